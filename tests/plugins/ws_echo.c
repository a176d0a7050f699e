/* A WebSocket route, /test/ws/{id}, that answers every text message with `answer_bytes` bytes
 * (option answer_bytes, default 4096): a client that sends and never reads makes the server
 * queue answers, which is what the host's send-queue bound is for. */
#include <glib.h>
#include <string.h>

#include "gramothi/plugin.h"

static const GramothiHost *host;
static char *answer;

static void on_message(GramothiWsConnection *conn, const char *text, size_t length, int is_text,
                       void *user_data) {
  (void)text;
  (void)length;
  (void)is_text;
  (void)user_data;
  host->ws_send(conn, answer);
}

static int32_t ws_echo_init(const GramothiHost *h, GramothiPluginContext *ctx, void **state,
                            char *error, size_t error_size) {
  host = h;
  *state = NULL;
  const char *size = host->config_get(ctx, "answer_bytes");
  guint64 n = size ? g_ascii_strtoull(size, NULL, 10) : 4096;
  if (n == 0 || n > 1024 * 1024) {
    g_strlcpy(error, "answer_bytes must be 1..1048576", error_size);
    return GRAMOTHI_E_INVALID;
  }
  answer = g_malloc(n + 1);
  memset(answer, 'a', n);
  answer[n] = '\0';
  static const GramothiWsHandlers handlers = {.message = on_message};
  return host->ws_route(ctx, "/test/ws/{id}", 1024, &handlers, NULL);
}

static void ws_echo_shutdown(void *state) {
  (void)state;
  g_clear_pointer(&answer, g_free);
}

static const GramothiPluginDescriptor descriptor = {GRAMOTHI_PLUGIN_ABI_MAJOR,
                                                    GRAMOTHI_PLUGIN_ABI_MINOR,
                                                    sizeof(GramothiPluginDescriptor),
                                                    0,
                                                    "ws-echo",
                                                    "1.0",
                                                    "test plugin: answers every WebSocket message",
                                                    ws_echo_init,
                                                    ws_echo_shutdown};

GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &descriptor;
}
