/* A well-formed plugin: registers GET /test/echo/{word} and records events it sees under
 * "class.", which GET /test/events returns. Also publishes "test.loaded" at init. */
#include <glib.h>
#include <string.h>

#include "gramothi/plugin.h"

static const GramothiHost *host;
static GramothiPluginContext *ctx;
static GString *events;

static void echo(GramothiHttpExchange *ex, void *user_data) {
  (void)user_data;
  const char *greeting = host->config_get(ctx, "greeting");
  char *body =
      g_strdup_printf("%s %s", greeting ? greeting : "hello", host->http_param(ex, "word"));
  host->http_respond(ex, 200, "text/plain", body, strlen(body));
  g_free(body);
}

static void list_events(GramothiHttpExchange *ex, void *user_data) {
  (void)user_data;
  host->http_respond(ex, 200, "text/plain", events->str, events->len);
}

static void on_event(const char *topic, const char *payload, void *user_data) {
  (void)user_data;
  g_string_append_printf(events, "%s %s\n", topic, payload);
}

static int32_t good_init(const GramothiHost *h, GramothiPluginContext *c, void **state, char *error,
                         size_t error_size) {
  (void)error;
  (void)error_size;
  host = h;
  ctx = c;
  events = g_string_new(NULL);
  *state = events;
  host->http_route(ctx, "GET", "/test/echo/{word}", 0, echo, NULL);
  host->http_route(ctx, "GET", "/test/events", 0, list_events, NULL);
  host->event_subscribe(ctx, "class.", on_event, NULL);
  host->event_publish(ctx, "test.loaded", "{\"plugin\":\"good\"}");
  return GRAMOTHI_OK;
}

static void good_shutdown(void *state) {
  g_string_free((GString *)state, TRUE);
}

static const GramothiPluginDescriptor descriptor = {GRAMOTHI_PLUGIN_ABI_MAJOR,
                                                    GRAMOTHI_PLUGIN_ABI_MINOR,
                                                    sizeof(GramothiPluginDescriptor),
                                                    0,
                                                    "good",
                                                    "1.0",
                                                    "test plugin",
                                                    good_init,
                                                    good_shutdown};

GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &descriptor;
}
