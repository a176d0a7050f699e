/* Exports no entry symbol: the host must refuse it. */
#include "gramothi/plugin.h"

GRAMOTHI_PLUGIN_EXPORT int gramothi_something_else(void) {
  return 42;
}
