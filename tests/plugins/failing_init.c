/* Registers a route, then fails init: the host must refuse it and drop the route. */
#include <glib.h>

#include "gramothi/plugin.h"

static void never(GramothiHttpExchange *ex, void *user_data) {
  (void)ex;
  (void)user_data;
}

static int32_t failing_init(const GramothiHost *host, GramothiPluginContext *ctx, void **state,
                            char *error, size_t error_size) {
  (void)state;
  host->http_route(ctx, "GET", "/test/failing", 0, never, NULL);
  g_strlcpy(error, "the frobnicator is missing", error_size);
  return GRAMOTHI_E_INTERNAL;
}

static const GramothiPluginDescriptor descriptor = {GRAMOTHI_PLUGIN_ABI_MAJOR,
                                                    GRAMOTHI_PLUGIN_ABI_MINOR,
                                                    sizeof(GramothiPluginDescriptor),
                                                    0,
                                                    "failing-init",
                                                    "1.0",
                                                    "test plugin that cannot start",
                                                    failing_init,
                                                    NULL};

GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &descriptor;
}
