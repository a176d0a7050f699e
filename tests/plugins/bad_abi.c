/* Claims a future ABI major: the host must refuse it without calling init. */
#include <stdlib.h>

#include "gramothi/plugin.h"

static int32_t bad_init(const GramothiHost *h, GramothiPluginContext *c, void **state, char *error,
                        size_t error_size) {
  (void)h;
  (void)c;
  (void)state;
  (void)error;
  (void)error_size;
  abort(); /* never reached: the ABI check comes first */
}

static const GramothiPluginDescriptor descriptor = {GRAMOTHI_PLUGIN_ABI_MAJOR + 1,
                                                    0,
                                                    sizeof(GramothiPluginDescriptor),
                                                    0,
                                                    "bad-abi",
                                                    "1.0",
                                                    "test plugin from the future",
                                                    bad_init,
                                                    NULL};

GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &descriptor;
}
