/* GramOthi Live — plugin ABI.
 *
 * A plugin is a shared module that the server loads with GModule (local binding). It exports
 * exactly one symbol, GRAMOTHI_PLUGIN_ENTRY ("gramothi_plugin_describe"), which returns a
 * pointer to a static GramothiPluginDescriptor. Everything else in the module stays hidden.
 *
 * Loading, in order:
 *   1. The host looks up the entry symbol. Missing: the plugin is refused.
 *   2. It reads abi_major/abi_minor/struct_size from the descriptor. A different ABI major, or
 *      a descriptor smaller than version 1.0's, is refused with a message naming both versions.
 *      A newer minor is accepted: minors only append fields, and the host reads no further than
 *      the fields it knows and struct_size allows.
 *   3. It calls init() on the main loop, handing over the host table (GramothiHost) and the
 *      plugin's own context. A non-zero return refuses the plugin; the message it wrote into
 *      `error` is logged. A plugin must undo whatever it registered before failing init.
 *   4. At shutdown, shutdown() runs on the main loop, in reverse load order, after the HTTP
 *      server stopped accepting requests. Routes and subscriptions are dropped by the host.
 *
 * Threading: every callback below runs on the server's main loop, and every host function must
 * be called from it. No call blocks: work that waits on storage completes through a callback.
 *
 * Ownership: strings passed into a callback are borrowed for the duration of that call only.
 * Strings the host returns as `char *` are the caller's and are released with host->free().
 * Strings returned as `const char *` belong to the host and live as long as the plugin.
 *
 * Versioning: the host table starts with its own abi_major/abi_minor/struct_size, so a plugin
 * built against a newer minor can check (GRAMOTHI_HOST_HAS) that a function exists before
 * calling it. Fields are only ever appended.
 *
 * Errors: host functions return GramothiStatus (0 or a negative code). Asynchronous results
 * carry a GramothiError whose `code` is a stable machine-readable string (for API clients) and
 * whose `message` is a sentence for people. No C++ exception crosses this boundary.
 */
#ifndef GRAMOTHI_PLUGIN_H
#define GRAMOTHI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRAMOTHI_PLUGIN_ABI_MAJOR 1
#define GRAMOTHI_PLUGIN_ABI_MINOR 0
#define GRAMOTHI_PLUGIN_ENTRY "gramothi_plugin_describe"

#if defined(__GNUC__)
#define GRAMOTHI_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define GRAMOTHI_PLUGIN_EXPORT
#endif

typedef enum {
  GRAMOTHI_OK = 0,
  GRAMOTHI_E_INVALID = -1,      /* 400: malformed or invalid input */
  GRAMOTHI_E_UNAUTHORIZED = -2, /* 401: missing, bad or expired credentials */
  GRAMOTHI_E_FORBIDDEN = -3,    /* 403: wrong role, or not the owner */
  GRAMOTHI_E_NOT_FOUND = -4,    /* 404 */
  GRAMOTHI_E_CONFLICT = -5,     /* 409: wrong state */
  GRAMOTHI_E_TOO_LARGE = -6,    /* 413 */
  GRAMOTHI_E_UNAVAILABLE = -7,  /* 503: storage or another dependency is down */
  GRAMOTHI_E_INTERNAL = -8,     /* 500 */
} GramothiStatus;

typedef struct {
  int32_t status;    /* a GramothiStatus */
  char code[48];     /* stable, e.g. "class_not_found" */
  char message[256]; /* human sentence */
} GramothiError;

typedef enum {
  GRAMOTHI_ROLE_STUDENT = 1,
  GRAMOTHI_ROLE_TEACHER = 2,
  GRAMOTHI_ROLE_ADMIN = 3,
} GramothiRole;

/* Who made a request, from a verified token. Plain data: copy it freely. */
typedef struct {
  char user_id[129];
  int32_t role;       /* a GramothiRole */
  int64_t expires_at; /* unix seconds */
} GramothiPrincipal;

typedef enum {
  GRAMOTHI_LOG_DEBUG = 0,
  GRAMOTHI_LOG_INFO = 1,
  GRAMOTHI_LOG_WARNING = 2,
  GRAMOTHI_LOG_ERROR = 3,
} GramothiLogLevel;

/* One HTTP request/response pair. Owned by the host. Valid from the handler call until the
 * plugin calls http_respond(), exactly once: during the handler call or later (the request
 * waits, paused, until then). At shutdown the host drops exchanges still unanswered after the
 * plugin's shutdown() returned. */
typedef struct GramothiHttpExchange GramothiHttpExchange;

/* Opaque per-plugin context the host hands to init(); pass it back on every host call. */
typedef struct GramothiPluginContext GramothiPluginContext;

typedef void (*GramothiHttpHandler)(GramothiHttpExchange *exchange, void *user_data);

/* Result of an asynchronous operation. `error` is NULL on success; then `result_json` is a JSON
 * object: for class_status the class status; for start/stop/join/leave/pin_profile
 * {"changed": bool, "class": <class status>} (changed is false for an idempotent repeat).
 * Both are borrowed for this call only. */
typedef void (*GramothiResultCallback)(const GramothiError *error, const char *result_json,
                                       void *user_data);

/* An event from the bus: topic such as "class.started", payload a JSON object. Borrowed. */
typedef void (*GramothiEventCallback)(const char *topic, const char *payload_json, void *user_data);

typedef struct GramothiHost {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  uint32_t reserved;

  /* --- 1.0 --- */
  void (*free)(void *ptr);
  void (*log)(GramothiPluginContext *ctx, int32_t level, const char *message);
  /* The plugin's own configuration: key `key` of group [plugin.NAME]. NULL if unset. */
  const char *(*config_get)(GramothiPluginContext *ctx, const char *key);

  /* HTTP. `pattern` is an absolute path whose segments may be `{name}` placeholders, e.g.
   * "/api/v1/streaming/status/{class_id}". `max_body` caps the request body (0 = no body
   * allowed); larger bodies get 413 before the handler runs. Routes are matched exactly. */
  int32_t (*http_route)(GramothiPluginContext *ctx, const char *method, const char *pattern,
                        size_t max_body, GramothiHttpHandler handler, void *user_data);
  const char *(*http_method)(GramothiHttpExchange *ex);
  const char *(*http_path)(GramothiHttpExchange *ex);
  /* Value of placeholder `name` in the matched pattern (percent-decoded), or NULL. */
  const char *(*http_param)(GramothiHttpExchange *ex, const char *name);
  const char *(*http_query)(GramothiHttpExchange *ex, const char *name);
  const char *(*http_header)(GramothiHttpExchange *ex, const char *name);
  const uint8_t *(*http_body)(GramothiHttpExchange *ex, size_t *length);
  void (*http_add_header)(GramothiHttpExchange *ex, const char *name, const char *value);
  /* Sends the response and releases the exchange: it must not be used afterwards. */
  void (*http_respond)(GramothiHttpExchange *ex, uint32_t status, const char *content_type,
                       const void *body, size_t length);

  /* Auth. `authorization` is the raw header value ("Bearer <jwt>") or NULL. */
  int32_t (*auth_verify)(GramothiPluginContext *ctx, const char *authorization,
                         GramothiPrincipal *out, GramothiError *error);

  /* Class lifecycle. Each checks the principal's rights, persists, publishes an event, and
   * calls `done` later on the main loop (never from inside the call). */
  void (*class_start)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data);
  void (*class_stop)(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data);
  void (*class_join)(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data);
  void (*class_leave)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data);
  void (*class_status)(GramothiPluginContext *ctx, const char *class_id,
                       GramothiResultCallback done, void *user_data);
  /* `profile` is "auto" or a configured profile name. */
  void (*class_pin_profile)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                            const char *class_id, const char *profile, GramothiResultCallback done,
                            void *user_data);

  /* JSON the host composes; free with host->free(). */
  char *(*ice_servers_json)(GramothiPluginContext *ctx, const GramothiPrincipal *who);
  char *(*public_config_json)(GramothiPluginContext *ctx);
  /* Health of the server and its storage: `done` gets error NULL and a JSON object when all is
   * well, or an error (GRAMOTHI_E_UNAVAILABLE) and the same JSON object describing what is not. */
  void (*health)(GramothiPluginContext *ctx, GramothiResultCallback done, void *user_data);

  /* Event bus. Subscriptions match topics by prefix ("class." gets "class.started", ...).
   * Returns a subscription id > 0, or a negative GramothiStatus. */
  int64_t (*event_subscribe)(GramothiPluginContext *ctx, const char *topic_prefix,
                             GramothiEventCallback callback, void *user_data);
  void (*event_unsubscribe)(GramothiPluginContext *ctx, int64_t subscription);
  /* Publishes to every subscriber on the main loop, after the current call returns. */
  int32_t (*event_publish)(GramothiPluginContext *ctx, const char *topic, const char *payload_json);
} GramothiHost;

/* True when `host` (of any 1.x minor) carries `field`. */
#define GRAMOTHI_HOST_HAS(host, field)                                             \
  ((host)->struct_size >= offsetof(GramothiHost, field) + sizeof((host)->field) && \
   (host)->field != NULL)

typedef struct GramothiPluginDescriptor {
  uint32_t abi_major;   /* GRAMOTHI_PLUGIN_ABI_MAJOR at build time */
  uint32_t abi_minor;   /* GRAMOTHI_PLUGIN_ABI_MINOR at build time */
  uint32_t struct_size; /* sizeof(GramothiPluginDescriptor) at build time */
  uint32_t reserved;
  const char *name;        /* short, e.g. "rest"; matches the name in the config */
  const char *version;     /* the plugin's own version */
  const char *description; /* one line */
  /* Called once. Store `host` and `ctx`; put plugin state in *state. Return 0, or a negative
   * GramothiStatus after writing a reason into `error` (NUL-terminated, at most error_size). */
  int32_t (*init)(const GramothiHost *host, GramothiPluginContext *ctx, void **state, char *error,
                  size_t error_size);
  /* Called once at shutdown with the state init produced. May be NULL. */
  void (*shutdown)(void *state);
} GramothiPluginDescriptor;

typedef const GramothiPluginDescriptor *(*GramothiPluginDescribeFn)(void);

#ifdef __cplusplus
}
#endif

#endif /* GRAMOTHI_PLUGIN_H */
