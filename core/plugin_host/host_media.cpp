// Media for plugins, through core's MediaEngine (absent when the server runs without live
// audio): WebRTC peers (a teacher publishing, students listening), a listener's link, and
// recordings of a class's audio. A GramothiMediaPeer is created by media_publish/media_listen
// and deleted after media_close, once the engine has dropped the observer that points at it.
#include <cmath>
#include <string>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "media/media_engine.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

struct GramothiMediaPeer {
  gramothi::MediaEngine *engine = nullptr;
  gramothi::PeerId id = 0;
  GramothiMediaCallbacks callbacks{};
  void *user_data = nullptr;
  bool closed = false;
};

namespace gramothi {
namespace {

// Engine callbacks -> the plugin's C callbacks.
PeerObserver observer_for(GramothiMediaPeer *peer) {
  PeerObserver o;
  o.local_description = [peer](const std::string &type, const std::string &sdp) {
    if (!peer->closed && peer->callbacks.local_description)
      peer->callbacks.local_description(type.c_str(), sdp.c_str(), peer->user_data);
  };
  o.local_candidate = [peer](unsigned mline, const std::string &candidate) {
    if (!peer->closed && peer->callbacks.local_candidate)
      peer->callbacks.local_candidate(mline, candidate.c_str(), peer->user_data);
  };
  o.state = [peer](PeerState state, const std::string &detail) {
    if (peer->closed) return;
    if (state == PeerState::kClosed) peer->closed = true;
    if (peer->callbacks.state)
      peer->callbacks.state(std::string(peer_state_name(state)).c_str(), detail.c_str(),
                            peer->user_data);
    // The engine closed it (class ended, replaced, error): the plugin still calls media_close.
  };
  o.profile_changed = [peer](const std::string &profile, const std::string &reason) {
    if (!peer->closed && peer->callbacks.profile_changed)
      peer->callbacks.profile_changed(profile.c_str(), reason.c_str(), peer->user_data);
  };
  return o;
}

bool media_available(GramothiPluginContext *ctx, GramothiError *error) {
  if (ctx->services->media) return true;
  fill_error(error, {ErrorKind::kUnavailable, "media_unavailable", "Live audio is not available."});
  return false;
}

// A peer reporting to `cb`, or null after filling `error` when `open` (handed the peer's
// observer) fails.
template <typename Open>
GramothiMediaPeer *open_peer(MediaEngine *engine, const GramothiMediaCallbacks *cb, void *user_data,
                             GramothiError *error, Open open) {
  auto *peer = new GramothiMediaPeer{engine, 0, *cb, user_data, false};
  Result<PeerId> id = open(observer_for(peer));
  if (!id) {
    fill_error(error, id.error());
    delete peer;
    return nullptr;
  }
  peer->id = *id;
  return peer;
}

// GRAMOTHI_OK, or GRAMOTHI_E_INVALID after filling `error` with what the engine refused.
int32_t engine_status(const std::optional<Error> &refused, GramothiError *error) {
  if (!refused) return GRAMOTHI_OK;
  fill_error(error, *refused);
  return GRAMOTHI_E_INVALID;
}

}  // namespace

GramothiMediaPeer *host_media_publish(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                      const char *class_id, const char *offer_sdp,
                                      const GramothiMediaCallbacks *callbacks, void *user_data,
                                      GramothiError *error) {
  if (!media_available(ctx, error)) return nullptr;
  if (!valid_principal_user(who) || !class_id || !valid_class_id(class_id) || !offer_sdp ||
      !callbacks) {
    fill_error(error,
               {ErrorKind::kInvalid, "invalid_argument", "publish needs a class and an offer."});
    return nullptr;
  }
  MediaEngine *media = ctx->services->media;
  return open_peer(media, callbacks, user_data, error, [&](PeerObserver observer) {
    return media->publish(class_id, who->user_id, offer_sdp, std::move(observer));
  });
}

namespace {
GramothiMediaPeer *listen_peer(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                               const char *class_id, const char *profile,
                               const GramothiMediaCallbacks *callbacks, void *user_data,
                               GramothiError *error, bool held) {
  if (!media_available(ctx, error)) return nullptr;
  if (!valid_principal_user(who) || !class_id || !valid_class_id(class_id) || !callbacks) {
    fill_error(error, {ErrorKind::kInvalid, "invalid_argument", "listen needs a class."});
    return nullptr;
  }
  MediaEngine *media = ctx->services->media;
  return open_peer(media, callbacks, user_data, error, [&](PeerObserver observer) {
    return media->listen(class_id, who->user_id, profile ? profile : "auto", std::move(observer),
                         held);
  });
}
}  // namespace

GramothiMediaPeer *host_media_listen(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                     const char *class_id, const char *profile,
                                     const GramothiMediaCallbacks *callbacks, void *user_data,
                                     GramothiError *error) {
  return listen_peer(ctx, who, class_id, profile, callbacks, user_data, error, false);
}
GramothiMediaPeer *host_media_listen_held(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                          const char *class_id, const char *profile,
                                          const GramothiMediaCallbacks *callbacks, void *user_data,
                                          GramothiError *error) {
  return listen_peer(ctx, who, class_id, profile, callbacks, user_data, error, true);
}
void host_media_rebind(GramothiMediaPeer *p, void *user_data) {
  if (p) p->user_data = user_data;
}
int32_t host_media_play(GramothiMediaPeer *p, GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  return engine_status(p->engine->play(p->id), error);
}

int32_t host_media_answer(GramothiMediaPeer *p, const char *sdp, GramothiError *error) {
  if (!p || !sdp) return GRAMOTHI_E_INVALID;
  return engine_status(p->engine->remote_answer(p->id, sdp), error);
}
int32_t host_media_add_candidate(GramothiMediaPeer *p, uint32_t mline, const char *candidate,
                                 GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  return engine_status(p->engine->remote_candidate(p->id, mline, candidate ? candidate : ""),
                       error);
}
int32_t host_media_set_profile(GramothiMediaPeer *p, const char *profile, GramothiError *error) {
  if (!p || !profile) return GRAMOTHI_E_INVALID;
  return engine_status(p->engine->set_profile(p->id, profile), error);
}
int32_t host_media_client_report(GramothiMediaPeer *p, int32_t downlink_kbps, int32_t rtt_ms,
                                 double loss, GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  return host_media_client_report_downloads(p, downlink_kbps, rtt_ms, loss, -1, error);
}
int32_t host_media_client_report_downloads(GramothiMediaPeer *p, int32_t downlink_kbps,
                                           int32_t rtt_ms, double loss, int32_t downloading,
                                           GramothiError *error) {
  if (!p) return GRAMOTHI_E_INVALID;
  return engine_status(
      p->engine->client_report(p->id, downlink_kbps, rtt_ms, loss,
                               downloading < 0 ? std::nullopt : std::optional(downloading > 0)),
      error);
}
void host_media_close(GramothiMediaPeer *p) {
  if (!p) return;
  p->closed = true;
  p->engine->close(p->id);
  // The engine holds the observer (and so `p`) until it drops the peer on the main loop.
  GramothiMediaPeer *doomed = p;
  g_idle_add_full(
      G_PRIORITY_LOW,
      [](gpointer d) -> gboolean {
        delete static_cast<GramothiMediaPeer *>(d);
        return G_SOURCE_REMOVE;
      },
      doomed, nullptr);
}

uint32_t host_media_listener_count(GramothiPluginContext *ctx, const char *class_id) {
  if (!ctx->services->media || !class_id) return 0;
  return static_cast<uint32_t>(ctx->services->media->listener_count(class_id));
}

char *host_media_stats(GramothiMediaPeer *p) {
  if (!p || p->closed) return nullptr;
  auto s = p->engine->stats(p->id);
  if (!s) return nullptr;
  std::string json = JsonObjectWriter()
                         .str("profile", s->profile)
                         .boolean("pinned", s->pinned)
                         .num("loss_pct", std::round(s->loss_fraction * 1000.0) / 10.0)
                         .num("rtt_ms", static_cast<int64_t>(std::llround(s->rtt_ms)))
                         .num("frames_sent", static_cast<int64_t>(s->frames_sent))
                         .finish();
  return g_strdup(json.c_str());
}

uint64_t host_media_record_start(GramothiPluginContext *ctx, const char *class_id, const char *path,
                                 int32_t bitrate_bps, GramothiRecordingCallback on_state,
                                 void *user_data, GramothiError *error) {
  if (!ctx->services->media) {
    fill_error(error, Error{ErrorKind::kUnavailable, "media_unavailable",
                            "The server runs without live audio."});
    return 0;
  }
  if (!class_id || !valid_class_id(class_id) || !path || !*path || bitrate_bps < 6000 ||
      bitrate_bps > 510000) {
    fill_error(error, Error{ErrorKind::kInvalid, "invalid_argument",
                            "A class id, a path and a bitrate of 6000..510000 bit/s are needed."});
    return 0;
  }
  Lifetime::Watch plugin = ctx->lifetime.watch();
  auto id = ctx->services->media->record(
      class_id, path, bitrate_bps,
      [plugin, on_state, user_data](RecordingState state, const std::string &detail) {
        if (plugin.alive() && on_state)
          on_state(std::string(recording_state_name(state)).c_str(), detail.c_str(), user_data);
      });
  if (!id) {
    fill_error(error, id.error());
    return 0;
  }
  return *id;
}

void host_media_record_stop(GramothiPluginContext *ctx, uint64_t id) {
  if (ctx->services->media) ctx->services->media->stop_recording(id);
}

}  // namespace gramothi
