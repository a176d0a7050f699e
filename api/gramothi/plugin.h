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
#define GRAMOTHI_PLUGIN_ABI_MINOR 9
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

/* The HTTP status that answers a GramothiStatus (200 for GRAMOTHI_OK): the one mapping that
 * core and the plugins use. */
static inline uint32_t gramothi_status_http(int32_t status) {
  switch (status) {
    case GRAMOTHI_OK:
      return 200;
    case GRAMOTHI_E_INVALID:
      return 400;
    case GRAMOTHI_E_UNAUTHORIZED:
      return 401;
    case GRAMOTHI_E_FORBIDDEN:
      return 403;
    case GRAMOTHI_E_NOT_FOUND:
      return 404;
    case GRAMOTHI_E_CONFLICT:
      return 409;
    case GRAMOTHI_E_TOO_LARGE:
      return 413;
    case GRAMOTHI_E_UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

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

/* Who made a request, from a verified token. Plain data: copy it freely. The token's class
 * grants are not in it: the host remembers them for the principal it made (class_access). */
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

/* --- 1.1 types --- */

/* One WebSocket client. Owned by the host; valid from `opened` until `closed` returns. */
typedef struct GramothiWsConnection GramothiWsConnection;

/* What a WebSocket route calls, on the main loop. `message` gets each text message (NUL
 * terminated; `length` excludes the NUL) and each binary message with is_text = 0. After
 * `closed` the connection must not be used. */
typedef struct {
  void (*opened)(GramothiWsConnection *conn, void *user_data);
  void (*message)(GramothiWsConnection *conn, const char *data, size_t length, int is_text,
                  void *user_data);
  void (*closed)(GramothiWsConnection *conn, void *user_data);
} GramothiWsHandlers;

/* One WebRTC peer of the media engine (a teacher publishing, or a student listening). Owned by
 * the host; the plugin ends it with media_close(). */
typedef struct GramothiMediaPeer GramothiMediaPeer;

/* What a media peer reports, always on the main loop and never from inside a host call. All
 * strings are borrowed for the call.
 *   local_description: type "offer" (listeners: the server offers) or "answer" (publishers).
 *   local_candidate:   an ICE candidate line; candidate "" marks the end of candidates.
 *   state:             "connecting", "connected", "disconnected", "failed", or "closed" (last
 *                      call; detail says why: "class-ended", "replaced", "media-error", ...).
 *   profile_changed:   a listener's profile and why ("initial", "pinned", "auto", "loss",
 *                      "client-hint", "recovered"). */
typedef struct {
  void (*local_description)(const char *type, const char *sdp, void *user_data);
  void (*local_candidate)(uint32_t mline_index, const char *candidate, void *user_data);
  void (*state)(const char *state, const char *detail, void *user_data);
  void (*profile_changed)(const char *profile, const char *reason, void *user_data);
} GramothiMediaCallbacks;

/* --- 1.4 types --- */
typedef void (*GramothiRecordingCallback)(const char *state, const char *detail, void *user_data);

/* --- 1.2 types --- */

/* Bytes, or an error (then data is NULL). `data` is borrowed for this call only. */
typedef void (*GramothiBytesCallback)(const GramothiError *error, const uint8_t *data,
                                      size_t length, void *user_data);

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
   * allowed); larger bodies get 413 before the handler runs. Routes are matched exactly.
   * A route whose `max_body` is above 64 KiB (an upload) also needs a valid
   * "Authorization: Bearer <jwt>" in the request headers: the host checks it before reading
   * the body and answers 401 (token_missing, token_invalid, token_expired, token_not_yet_valid;
   * with WWW-Authenticate: Bearer) without calling the handler. Such a route cannot take its
   * token from the query string, nor serve anonymous uploads. Of a refused request the host reads
   * at most 64 KiB of body; a larger one is never read and the connection is closed after the
   * answer. */
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

  /* --- 1.1: WebSocket --- */
  /* `pattern` is an absolute path ending in one `{name}` placeholder, e.g.
   * "/api/v1/streaming/ws/{class_id}". Messages above `max_message` bytes still reach the
   * plugin up to a hard cap of 1 MiB (so it can answer with an error); beyond that, in one frame
   * or in fragments, the host closes the connection with 1009. The host pings each client and
   * closes one it has heard nothing from (no message, no pong) for [limits] ws_idle_timeout_s
   * with 4408 "idle_timeout", and one that sends more bytes (pings included) than [limits]
   * ws_max_read_bytes_per_second allows with 1008 "rate_limited"; the plugin gets `closed`. */
  int32_t (*ws_route)(GramothiPluginContext *ctx, const char *pattern, size_t max_message,
                      const GramothiWsHandlers *handlers, void *user_data);
  /* From the handshake, valid while the connection is: the placeholder, a query parameter, a
   * request header. NULL when absent. */
  const char *(*ws_param)(GramothiWsConnection *conn, const char *name);
  const char *(*ws_query)(GramothiWsConnection *conn, const char *name);
  const char *(*ws_header)(GramothiWsConnection *conn, const char *name);
  /* Queues a text message. Returns GRAMOTHI_E_CONFLICT once the connection is closing, and
   * GRAMOTHI_E_INVALID (nothing sent) for text that is not UTF-8. The host bounds what waits
   * unsent per connection ([limits] ws_max_queued_bytes): a client that does not read is closed
   * with 1008 "send_queue_full" and what was queued is dropped. */
  int32_t (*ws_send)(GramothiWsConnection *conn, const char *text);
  /* Starts the closing handshake; `closed` follows. */
  void (*ws_close)(GramothiWsConnection *conn, uint16_t code, const char *reason);
  /* The plugin's own pointer for this connection. */
  void (*ws_set_data)(GramothiWsConnection *conn, void *data);
  void *(*ws_get_data)(GramothiWsConnection *conn);

  /* --- 1.1: media --- */
  /* A teacher's offer (SDP text) for a live class; the answer arrives through callbacks. A new
   * publish replaces the class's previous publisher (which gets state "closed", "replaced").
   * Returns NULL and fills `error` when the offer is unusable. */
  GramothiMediaPeer *(*media_publish)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                      const char *class_id, const char *offer_sdp,
                                      const GramothiMediaCallbacks *callbacks, void *user_data,
                                      GramothiError *error);
  /* A listener for `who` in the class; the server's offer arrives through callbacks. `profile`
   * is "auto" or a profile name (pinned). One listener per user and class: a new one replaces
   * the old. */
  GramothiMediaPeer *(*media_listen)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                     const char *class_id, const char *profile,
                                     const GramothiMediaCallbacks *callbacks, void *user_data,
                                     GramothiError *error);
  int32_t (*media_answer)(GramothiMediaPeer *peer, const char *sdp, GramothiError *error);
  /* `candidate` NULL or "" = end of the remote candidates. */
  int32_t (*media_add_candidate)(GramothiMediaPeer *peer, uint32_t mline_index,
                                 const char *candidate, GramothiError *error);
  /* "auto" or a profile name. */
  int32_t (*media_set_profile)(GramothiMediaPeer *peer, const char *profile, GramothiError *error);
  /* The client's view of its link; pass a negative value for what it does not know. `loss` is
   * a fraction 0..1. */
  int32_t (*media_client_report)(GramothiMediaPeer *peer, int32_t downlink_kbps, int32_t rtt_ms,
                                 double loss, GramothiError *error);
  /* Ends the peer. No callback runs for it after this returns. */
  void (*media_close)(GramothiMediaPeer *peer);
  /* How many listeners a class has right now (held ones not counted, 1.8). */
  uint32_t (*media_listener_count)(GramothiPluginContext *ctx, const char *class_id);
  /* The profile `who` chose for the class (REST bandwidth-profile or the WebSocket "profile"
   * message): `done` gets {"profile": "low"} or {"profile": null} when there is none. */
  void (*class_pinned_profile)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                               const char *class_id, GramothiResultCallback done, void *user_data);

  /* --- 1.2: slides --- */
  /* A PDF deck for the class, `body` as uploaded: the PDF itself (content_type
   * application/pdf, application/octet-stream or none) or multipart/form-data with it as the
   * file part. Checks the rights (the class's teacher or an admin), stores it and answers the
   * deck JSON {deck_id, status: "rendering", ...} before rendering starts; progress then comes
   * as "slides.progress" events and the deck's status in slides_list. */
  void (*slides_upload)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                        const char *class_id, const uint8_t *body, size_t length,
                        const char *content_type, GramothiResultCallback done, void *user_data);
  /* {class_id, deck, current_slide_id, slides: [{slide_id, order_no, status, text, images:
   * {<profile>: {url, width, height, bytes, encoding}}, error}]} of the class's active deck. */
  void (*slides_list)(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data);
  /* Moves the class's current slide: action "next", "previous" or "goto" (slide_id, or
   * order_no >= 1; pass NULL / 0 for none). Answers {changed, reason, action, slide, next} and,
   * when it moved, publishes "slides.sync". */
  void (*slides_sync)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *action, const char *slide_id,
                      int64_t order_no, GramothiResultCallback done, void *user_data);
  /* A rendered image by its file name ("<sha256>.webp"). */
  void (*slides_image)(GramothiPluginContext *ctx, const char *file, GramothiBytesCallback done,
                       void *user_data);

  /* --- 1.2: chat --- */
  /* Posts `text` (trimmed; 1..500 characters, no control characters but newlines and tabs)
   * for `who` in the class. Answers the message {message_id, user_id, role, text, sent_at,
   * sent_at_ms} and publishes "chat.message" {class_id, message}. */
  void (*chat_post)(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                    const char *text, GramothiResultCallback done, void *user_data);
  /* {"messages": [...]}: the class's last 100 messages not removed, oldest first. */
  void (*chat_recent)(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data);
  /* Removes a message (the class's owner or an admin); publishes "chat.removed"
   * {class_id, message_id}. */
  void (*chat_remove)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *message_id, GramothiResultCallback done,
                      void *user_data);

  /* --- 1.3: listener link view --- */
  /* A listener's current link as the server sees it, as JSON (free with `free`):
   * {"profile": "low", "pinned": false, "loss_pct": 1.5, "rtt_ms": 84, "frames_sent": 1200}.
   * NULL for a publisher or an unknown peer. */
  char *(*media_stats)(GramothiMediaPeer *peer);

  /* --- 1.4: recording --- */
  /* The server's data folder (absolute or relative to the working directory); plugins keep
   * their files in a subfolder named after themselves. */
  const char *(*data_dir)(GramothiPluginContext *ctx);
  /* Records a class's audio (what listeners hear; silence while no teacher speaks) as
   * Ogg/Opus at `bitrate_bps` into `path` (created or truncated), starting the class's media if
   * needed. Returns the recording's id, or 0 and fills `error`. `on_state` is called on the main
   * loop: "recording" once audio is on disk (detail: the epoch milliseconds the file's time 0
   * stands for), then once "stopped" (complete, after media_record_stop or the end of the
   * class) or "failed" (detail says why: the disk is full, ...; the class goes on). Never after
   * the plugin's shutdown. */
  uint64_t (*media_record_start)(GramothiPluginContext *ctx, const char *class_id, const char *path,
                                 int32_t bitrate_bps, GramothiRecordingCallback on_state,
                                 void *user_data, GramothiError *error);
  /* Ends a recording cleanly; "stopped" follows. Unknown or finished ids are ignored. */
  void (*media_record_stop)(GramothiPluginContext *ctx, uint64_t recording_id);
  /* {"attended": true|false}: whether `user_id` ever joined a session of the class as a
   * listener or over REST join. A record only: since 1.6 attendance grants nothing (rights
   * come from class_access). */
  void (*class_attended)(GramothiPluginContext *ctx, const char *class_id, const char *user_id,
                         GramothiResultCallback done, void *user_data);

  /* --- 1.5: enrolment --- */
  /* 1 when `authorization` ("Bearer <jwt>") is a valid token whose optional "classes" claim
   * lists `class_id` (the school's backend enrols the user in that class), else 0. Superseded
   * by class_access (1.6), which also counts "teaches", assignments and open attendance. */
  int32_t (*auth_token_has_class)(GramothiPluginContext *ctx, const char *authorization,
                                  const char *class_id);

  /* --- 1.6: class-scoped grants, assigned teachers, link tickets --- */
  /* What `who` may do in a class: `done` gets {"attend": bool, "teach": bool}. Attending
   * (listening, chat, slides, recordings): admins, the token's "classes" grant, [auth]
   * open_attendance, or teaching the class. Teaching (start, stop, upload, slide moves, the
   * roster, recording state): admins, and teachers with the token's "teaches" grant or an
   * admin's assignment. The host checks the same rights in class_start/stop/join/pin_profile,
   * slides_upload/sync and chat_post/remove; media_publish and media_listen are the caller's to
   * check with this call first. */
  void (*class_access)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                       const char *class_id, GramothiResultCallback done, void *user_data);
  /* Admins only: creates the class if it does not exist and replaces its assigned teachers with
   * `teachers` (n user ids). Answers the class status; publishes "class.teachers". */
  void (*class_set_teachers)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                             const char *class_id, const char *const *teachers, size_t n,
                             GramothiResultCallback done, void *user_data);
  /* A ticket for a URL (?ticket=): `who` may reach `scope` (a string of the plugin's choosing,
   * e.g. "audio:<recording id>"; tickets of one plugin mean nothing to another) for `ttl_s`
   * seconds, 1..86400 and never beyond who->expires_at. NULL for a bad principal or scope.
   * Free with free(). */
  char *(*auth_ticket)(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *scope,
                       int64_t ttl_s);
  /* Checks a ticket for `scope`: fills `out` (expires_at = the ticket's). Errors
   * (GRAMOTHI_E_UNAUTHORIZED): "ticket_invalid", "ticket_expired". */
  int32_t (*auth_verify_ticket)(GramothiPluginContext *ctx, const char *ticket, const char *scope,
                                GramothiPrincipal *out, GramothiError *error);

  /* --- 1.7: pacing --- */
  /* The response of `ex` (not yet sent) goes out no faster than a listener on bandwidth profile
   * `profile` has room for beside its audio, so that it never queues in front of the audio on
   * a slow link. The highest profile and unknown names: no pacing. */
  void (*http_pace)(GramothiPluginContext *ctx, GramothiHttpExchange *ex, const char *profile);

  /* --- 1.8: listeners connected ahead of the tap --- */
  /* As media_listen, but the listener is held: it connects (offer, ICE, DTLS) and is sent
   * nothing, its profile staying where it starts, until media_play. A page connects while its
   * student reads; the tap then costs one message instead of the round trips of a connection.
   * Held listeners are not counted by media_listener_count. */
  GramothiMediaPeer *(*media_listen_held)(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                          const char *class_id, const char *profile,
                                          const GramothiMediaCallbacks *callbacks, void *user_data,
                                          GramothiError *error);
  /* A held listener gets the audio from now on (nothing when it is not held). */
  int32_t (*media_play)(GramothiMediaPeer *peer, GramothiError *error);
  /* The peer's callbacks get `user_data` from now on (a session moving to another socket of
   * its client). */
  void (*media_rebind)(GramothiMediaPeer *peer, void *user_data);

  /* --- 1.9: the client's downloads --- */
  /* As media_client_report, with `downloading`: the client is fetching slide images now (1),
   * is not (0), or does not say (negative: the last word stands). While it is, the listener is
   * not moved to a higher profile, nor is one tried: the image fills the link as it is. */
  int32_t (*media_client_report_downloads)(GramothiMediaPeer *peer, int32_t downlink_kbps,
                                           int32_t rtt_ms, double loss, int32_t downloading,
                                           GramothiError *error);
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
