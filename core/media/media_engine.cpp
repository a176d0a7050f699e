// The engine: classes and peers by id, and what happens between them (who publishes and who
// listens in which class, profile switches, recordings, ending a class). The parts it wires live
// in their own files: class_pipeline, tier, recorder, publisher, listener (lite and webrtcbin).
#include "media/media_engine.hpp"

#include <gst/sdp/sdp.h>

#include <algorithm>

#include "base/lifetime.hpp"
#include "base/main_loop.hpp"
#include "media/bandwidth_controller.hpp"
#include "media/class_pipeline.hpp"
#include "media/gst_support.hpp"
#include "media/listener.hpp"
#include "media/publisher.hpp"
#include "media/webrtcbin_listener.hpp"
#include "transport/lite_transport.hpp"

namespace gramothi {

struct MediaEngine::Impl final : PeerHost {
  const ProfileSet &profiles;
  MediaPipelines pipes;
  IceSettings ice_settings;
  std::unique_ptr<LiteTransport> lite;  // null: every listener has a webrtcbin
  SharedClock shared_clock;
  std::map<std::string, std::unique_ptr<ClassPipeline>> classes;
  std::map<PeerId, std::unique_ptr<Peer>> peers;
  PeerId next_id = 1;
  // Classes that ended while recording: kept until the recordings have their last page.
  std::vector<std::unique_ptr<ClassPipeline>> draining;
  std::map<RecordingId, ClassPipeline *> recording_class;
  RecordingId next_recording = 1;
  guint tick = 0;
  unsigned ticks = 0;
  int64_t recordings_caught_up_ms = 0;  // on_tick: silence for recordings between teachers
  // Ended first by the destructor: deferred work queued on the main loop then does nothing.
  Lifetime lifetime;

  Impl(const ProfileSet &p, MediaPipelines m, IceSettings i, std::unique_ptr<LiteTransport> t)
      : profiles(p), pipes(std::move(m)), ice_settings(std::move(i)), lite(std::move(t)) {}

  // PeerHost
  Peer *find(PeerId id) override {
    auto it = peers.find(id);
    return it == peers.end() || it->second->closed ? nullptr : it->second.get();
  }
  void set_state(Peer &p, PeerState state, const std::string &detail) override;
  void close_peer(Peer &p, const std::string &detail, bool notify) override;
  void switch_tier(Listener &l, size_t tier, const std::string &reason) override;
  const IceSettings &ice() const override { return ice_settings; }
  const MediaPipelines &pipelines() const override { return pipes; }
  const SharedClock &clock() const override { return shared_clock; }

  Listener *find_listener(PeerId id) {
    Peer *p = find(id);
    return p && p->is_listener() ? static_cast<Listener *>(p) : nullptr;
  }
  Result<ClassPipeline *> class_pipeline(const std::string &class_id);
  // `drain`: keep the pipeline until its recordings are final (not at shutdown).
  void end_class(ClassPipeline *c, bool drain = true);
  void teardown_class(ClassPipeline *c);
  void recorder_done(RecordingId id, RecordingState state, const std::string &detail);
  // The listeners of `class_id` waiting for profile `tier`'s encoder switch to it (its first
  // frame came).
  void complete_switches(const std::string &class_id, size_t tier);
  void on_tick();
  void tune_fec();
};

Result<ClassPipeline *> MediaEngine::Impl::class_pipeline(const std::string &class_id) {
  auto it = classes.find(class_id);
  if (it != classes.end()) return it->second.get();
  auto made = ClassPipeline::start(class_id, profiles, pipes, shared_clock);
  if (!made) return made.error();
  ClassPipeline *c = made->get();
  for (size_t t = 0; t < c->tier_count(); t++) {
    c->tier(t).set_linger_ms(ice_settings.encoder_linger_ms);
    c->tier(t).on_warm = [this, watch = lifetime.watch(), class_id, t] {
      if (watch.alive()) complete_switches(class_id, t);
    };
  }
  classes[class_id] = std::move(*made);
  return c;
}

void MediaEngine::Impl::end_class(ClassPipeline *c, bool drain) {
  std::vector<PeerId> ids;
  if (c->publisher) ids.push_back(c->publisher);
  for (auto &[user, id] : c->listeners)
    ids.push_back(id);
  for (PeerId id : ids)
    if (Peer *p = find(id)) close_peer(*p, "class-ended", true);
  auto it = classes.find(c->id());
  if (!drain || c->recorders.empty() || it == classes.end()) return teardown_class(c);
  // Recordings get their final page first; the pipeline goes when they have (or after 5 s).
  c->ended = true;
  draining.push_back(std::move(it->second));
  classes.erase(it);
  for (auto &[id, r] : std::map(c->recorders))
    r->end();
  struct Drain {
    Impl *engine;
    ClassPipeline *c;
    Lifetime::Watch watch;
  };
  c->drain_timer = g_timeout_add_seconds_full(
      G_PRIORITY_DEFAULT, 5,
      [](gpointer d) -> gboolean {
        auto *x = static_cast<Drain *>(d);
        if (!x->watch.alive()) return G_SOURCE_REMOVE;
        x->c->drain_timer = 0;
        for (auto &held : x->engine->draining)
          if (held.get() == x->c) {
            for (auto &[id, r] : std::map(x->c->recorders))
              x->engine->recorder_done(id, RecordingState::kFailed,
                                       "the recording did not finish in time");
            break;
          }
        return G_SOURCE_REMOVE;
      },
      new Drain{this, c, lifetime.watch()}, [](gpointer d) { delete static_cast<Drain *>(d); });
}

void MediaEngine::Impl::teardown_class(ClassPipeline *c) {
  for (auto &[id, r] : c->recorders) {
    recording_class.erase(id);
    if (r->observer)
      r->observer(RecordingState::kFailed, "the server stopped before the recording finished");
  }
  if (!c->ended) {
    classes.erase(c->id());  // destroys it
    return;
  }
  std::erase_if(draining, [c](const std::unique_ptr<ClassPipeline> &d) { return d.get() == c; });
}

// On the main loop: a recording's news. Its last (kStopped/kFailed) removes the branch, and the
// class pipeline too if the class ended and this was its last recording.
void MediaEngine::Impl::recorder_done(RecordingId id, RecordingState state,
                                      const std::string &detail) {
  auto where = recording_class.find(id);
  if (where == recording_class.end()) return;
  ClassPipeline *c = where->second;
  auto it = c->recorders.find(id);
  if (it == c->recorders.end()) return;
  std::shared_ptr<Recorder> r = it->second;
  if (state == RecordingState::kRecording) {
    if (r->observer) r->observer(state, detail);
    return;
  }
  if (state == RecordingState::kFailed)
    log_media(LogLevel::kError, "class " + c->id() + ": recording " + r->path() + ": " + detail);
  recording_class.erase(where);
  c->recorders.erase(it);
  r->end();
  r->shutdown();  // its file is final: the recording's pipeline goes now, its tap below
  if (c->ended)
    c->finished.push_back(r);  // the class's pipeline goes as a whole
  else
    Recorder::remove_from(r, c->pipeline(), c->tee());
  RecordingObserver observer = std::move(r->observer);
  if (c->ended && c->recorders.empty()) teardown_class(c);
  if (observer) observer(state, detail);
}

void MediaEngine::Impl::set_state(Peer &p, PeerState state, const std::string &detail) {
  if (p.state == state) return;
  p.state = state;
  log_media(LogLevel::kDebug, "peer " + std::to_string(p.id()) + " (" + p.user_id() +
                                  "): " + std::string(peer_state_name(state)));
  if (p.observer.state) p.observer.state(state, detail);
}

void MediaEngine::Impl::close_peer(Peer &p, const std::string &detail, bool notify) {
  if (p.closed) return;
  p.closed = true;
  p.lifetime.end();
  auto cit = classes.find(p.class_id());
  if (cit != classes.end()) {
    ClassPipeline *c = cit->second.get();
    if (!p.is_listener() && c->publisher == p.id()) {
      c->publisher = 0;
      // No teacher: the class stops until the next one (not when one replaces another).
      run_later([this, class_id = c->id(), watch = lifetime.watch()] {
        if (!watch.alive()) return;
        auto it = classes.find(class_id);
        if (it == classes.end() || it->second->publisher) return;
        it->second->set_running(false);
        // Switches waiting for an encoder's first frame would wait for the next teacher.
        for (auto &[user, id] : it->second->listeners)
          if (Listener *l = find_listener(id); l && l->pending_tier)
            switch_tier(*l, *l->pending_tier, l->pending_reason);
      });
    }
    if (p.is_listener()) {
      auto &l = static_cast<Listener &>(p);
      auto lit = c->listeners.find(p.user_id());
      if (lit != c->listeners.end() && lit->second == p.id()) c->listeners.erase(lit);
      if (l.tier < c->tier_count()) c->tier(l.tier).remove(l.feed);
      if (l.pending_tier && *l.pending_tier < c->tier_count()) c->tier(*l.pending_tier).unuse();
      l.pending_tier.reset();
    }
  }
  log_media(LogLevel::kDebug,
            "peer " + std::to_string(p.id()) + " (" + p.user_id() + "): closed (" + detail + ")");
  p.stop_media();
  PeerObserver observer = std::move(p.observer);
  PeerId id = p.id();
  if (notify && observer.state) observer.state(PeerState::kClosed, detail);
  // Free the peer later: we may be inside one of its own callbacks.
  run_later([this, id, watch = lifetime.watch()] {
    if (watch.alive()) peers.erase(id);
  });
}

void MediaEngine::Impl::switch_tier(Listener &l, size_t tier, const std::string &reason) {
  auto cit = classes.find(l.class_id());
  if (cit == classes.end() || tier >= cit->second->tier_count()) return;
  ClassPipeline *c = cit->second.get();
  // A later decision replaces one still waiting for its encoder.
  if (l.pending_tier) {
    size_t waited = *l.pending_tier;
    l.pending_tier.reset();
    c->tier(waited).unuse();
  }
  // To a profile whose encoder is off or has not yet delivered a frame: the encoder starts, and
  // the listener stays on its profile until the first frame came (complete_switches), so that
  // the switch leaves no gap. A held listener hears nothing yet, nor does anyone while the class
  // has no teacher: they move at once.
  if (tier != l.tier && !c->tier(tier).warm() && !l.feed->held.load() && c->running()) {
    c->tier(tier).use();
    l.pending_tier = tier;
    l.pending_reason = reason;
    return;
  }
  if (tier != l.tier) {
    c->tier(l.tier).remove(l.feed);
    c->tier(tier).add(l.feed);
    l.tier = tier;
    log_media(LogLevel::kInfo, "listener " + l.user_id() + " in " + l.class_id() + " -> " +
                                   c->tier(tier).profile().name + " (" + reason + ")");
  }
  bool top = tier + 1 >= c->tier_count();
  const BandwidthProfile &from = c->tier(tier).profile();
  l.probe_x100 = top ? 0 : probe_redundancy_x100(from, c->tier(tier + 1).profile());
  l.probe_x100_lossy = top ? 0 : probe_redundancy_x100(from, c->tier(tier + 1).profile(), true);
  l.probe_from_x100 = from.audio_redundancy * 100;
  l.red_fit = red_fit_tier(profiles.all(), tier);
  l.probe_kbps = top ? 0 : audio_wire_kbps(from, l.probe_x100 / 100.0);
  l.probe_kbps_lossy = top ? 0 : audio_wire_kbps(from, l.probe_x100_lossy / 100.0);
  l.sync_probe(g_get_monotonic_time() / 1000);
  if (l.observer.profile_changed) l.observer.profile_changed(c->tier(tier).profile().name, reason);
}

void MediaEngine::Impl::complete_switches(const std::string &class_id, size_t tier) {
  auto cit = classes.find(class_id);
  if (cit == classes.end() || tier >= cit->second->tier_count()) return;
  ClassPipeline *c = cit->second.get();
  std::vector<PeerId> ids;
  for (auto &[user, id] : c->listeners)
    ids.push_back(id);
  for (PeerId id : ids) {
    Listener *l = find_listener(id);
    if (!l || l->pending_tier != tier) continue;
    // The class again: the observer a switch calls may have ended it.
    cit = classes.find(class_id);
    if (cit == classes.end()) return;
    std::string reason = std::move(l->pending_reason);
    l->pending_tier.reset();
    // What the wait used first (the feed's own use follows at once and cancels any linger).
    cit->second->tier(tier).unuse();
    switch_tier(*l, tier, reason);  // warm now: the feed moves
  }
}

void MediaEngine::Impl::on_tick() {
  int64_t now = g_get_monotonic_time() / 1000;
  for (auto &[id, peer] : peers) {
    if (peer->closed || !peer->is_listener()) continue;
    auto &l = static_cast<Listener &>(*peer);
    if (l.feed->held.load()) continue;  // nothing sent: nothing to learn
    l.poll_stats();                     // lite listeners' reports arrive as they come
    if (auto d = l.controller->tick(now)) switch_tier(l, d->index, d->reason);
    l.sync_probe(now);
  }
  if (++ticks % 4 == 0) tune_fec();
  // Recordings of classes between teachers get their silence every 5 s, so that a server that
  // dies meanwhile loses at most that much of it.
  if (now - recordings_caught_up_ms >= 5000) {
    recordings_caught_up_ms = now;
    for (auto &[class_id, c] : classes)
      if (!c->running())
        for (auto &[rid, r] : c->recorders)
          r->catch_up();
  }
}

// Each profile's Opus FEC follows the loss its listeners report.
void MediaEngine::Impl::tune_fec() {
  std::map<std::pair<std::string, size_t>, std::vector<double>> loss;
  for (auto &[id, peer] : peers) {
    if (peer->closed || !peer->is_listener()) continue;
    auto &l = static_cast<Listener &>(*peer);
    if (l.recent_loss >= 0) loss[{l.class_id(), l.tier}].push_back(l.recent_loss);
  }
  for (auto &[class_id, c] : classes)
    for (size_t t = 0; t < c->tier_count(); t++) {
      auto it = loss.find({class_id, t});
      if (it == loss.end()) continue;  // no reports: the hint stays as it is
      if (auto hint = c->tier(t).tune_fec(std::move(it->second)))
        log_media(LogLevel::kDebug, "class " + class_id + ", profile " + c->tier(t).profile().name +
                                        ": Opus FEC for " + std::to_string(*hint) + " % loss");
    }
}

MediaEngine::MediaEngine(const ProfileSet &profiles, MediaPipelines pipelines, IceSettings ice,
                         std::unique_ptr<LiteTransport> lite)
    : impl_(
          std::make_unique<Impl>(profiles, std::move(pipelines), std::move(ice), std::move(lite))) {
  impl_->tick = g_timeout_add(
      impl_->ice_settings.stats_interval_ms,
      [](gpointer d) -> gboolean {
        static_cast<Impl *>(d)->on_tick();
        return G_SOURCE_CONTINUE;
      },
      impl_.get());
}

MediaEngine::~MediaEngine() {
  g_source_remove(impl_->tick);
  impl_->lifetime.end();
  // Recordings get their last page written (up to 2 s), so they end complete; their owners
  // (plugins, shutting down) are not called any more.
  std::vector<std::shared_ptr<Recorder>> open;
  auto finish = [&](ClassPipeline *c) {
    for (auto &[id, r] : c->recorders) {
      r->observer = nullptr;
      r->end();
      open.push_back(r);
    }
  };
  for (auto &[id, c] : impl_->classes)
    finish(c.get());
  for (auto &c : impl_->draining)
    finish(c.get());
  for (int i = 0;
       i < 200 && !std::all_of(open.begin(), open.end(), [](auto &r) { return r->finished(); });
       i++)
    g_usleep(10000);
  while (!impl_->classes.empty())
    impl_->end_class(impl_->classes.begin()->second.get(), false);
  while (!impl_->draining.empty())
    impl_->teardown_class(impl_->draining.back().get());
  impl_->peers.clear();
}

namespace {

// The teacher's offer, if it is an SDP with Opus audio (the caller frees it).
Result<GstSDPMessage *> parse_offer(const std::string &offer_sdp) {
  GstSDPMessage *sdp = nullptr;
  // An empty text would fail an assertion in GStreamer's parser (a GLib critical).
  if (offer_sdp.empty() || gst_sdp_message_new_from_text(offer_sdp.c_str(), &sdp) != GST_SDP_OK ||
      !sdp || gst_sdp_message_medias_len(sdp) == 0) {
    if (sdp) gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp", "The offer is not a usable SDP.");
  }
  bool has_opus = false;
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(sdp, i);
    if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0) continue;
    for (guint a = 0; a < gst_sdp_media_attributes_len(m); a++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute(m, a);
      if (g_strcmp0(attr->key, "rtpmap") != 0 || !attr->value) continue;
      g_autofree char *lower = g_ascii_strdown(attr->value, -1);
      if (g_strrstr(lower, "opus/48000")) has_opus = true;
    }
  }
  if (!has_opus) {
    gst_sdp_message_free(sdp);
    return media_error(ErrorKind::kInvalid, "invalid_sdp",
                       "The offer has no Opus audio; send audio with Opus.");
  }
  return sdp;
}

Error profile_error(const ProfileSet &profiles) {
  return media_error(ErrorKind::kInvalid, "invalid_field",
                     "Field 'profile' must be one of: " + profiles.names_joined() + ".");
}

}  // namespace

Result<PeerId> MediaEngine::publish(const std::string &class_id, const std::string &user_id,
                                    const std::string &offer_sdp, PeerObserver observer) {
  auto offer = parse_offer(offer_sdp);
  if (!offer) return offer.error();
  auto c = impl_->class_pipeline(class_id);
  if (!c) {
    gst_sdp_message_free(*offer);
    return c.error();
  }
  if ((*c)->publisher)
    if (Peer *old = impl_->find((*c)->publisher)) impl_->close_peer(*old, "replaced", true);
  PeerId id = impl_->next_id++;
  auto p = std::make_unique<Publisher>(*impl_, id, class_id, user_id, std::move(observer));
  Publisher *raw = p.get();
  impl_->peers[id] = std::move(p);
  (*c)->publisher = id;
  if (!(*c)->set_running(true)) {
    gst_sdp_message_free(*offer);
    impl_->close_peer(*raw, "media-error", false);
    return media_error(ErrorKind::kInternal, "media_error", "the class's audio cannot start");
  }
  if (auto err = raw->start(*offer, (*c)->teacher_src())) {
    impl_->close_peer(*raw, "media-error", false);
    return *err;
  }
  return id;
}

Result<PeerId> MediaEngine::listen(const std::string &class_id, const std::string &user_id,
                                   const std::string &profile, PeerObserver observer, bool held) {
  size_t tier = 0;
  bool pinned = false;
  const auto &all = impl_->profiles.all();
  if (profile != "auto") {
    const BandwidthProfile *bp = impl_->profiles.find(profile);
    if (!bp) return profile_error(impl_->profiles);
    tier = static_cast<size_t>(bp - all.data());
    pinned = true;
  } else {
    // Start safe, at the lowest profile, and let the controller climb within seconds on a
    // link that carries more: a 2G student must hear the first words.
    tier = 0;
  }
  auto c = impl_->class_pipeline(class_id);
  if (!c) return c.error();
  auto existing = (*c)->listeners.find(user_id);
  if (existing != (*c)->listeners.end())
    if (Listener *old = impl_->find_listener(existing->second)) {
      // A page opened in another tab connects ahead of its tap: it must not end the audio the
      // user hears in the first.
      if (held && !old->feed->held.load())
        return media_error(ErrorKind::kConflict, "listening_elsewhere",
                           "You are listening to this class elsewhere; listen here to move it.");
      impl_->close_peer(*old, "replaced", true);
    }

  PeerId id = impl_->next_id++;
  auto controller = std::make_unique<BandwidthController>(impl_->profiles, tier);
  if (pinned) controller->pin(tier, g_get_monotonic_time() / 1000);
  std::unique_ptr<Listener> l;
  if (impl_->lite)
    l = std::make_unique<LiteListener>(*impl_, *impl_->lite, id, class_id, user_id,
                                       std::move(observer), tier, std::move(controller));
  else
    l = std::make_unique<WebrtcbinListener>(*impl_, id, class_id, user_id, std::move(observer),
                                            tier, std::move(controller));
  Listener *raw = l.get();
  raw->feed->held.store(held);
  impl_->peers[id] = std::move(l);
  (*c)->listeners[user_id] = id;
  if (auto err = raw->start(g_random_int())) {
    impl_->close_peer(*raw, "media-error", false);
    return *err;
  }
  (*c)->tier(tier).add(raw->feed);
  return id;
}

std::optional<Error> MediaEngine::play(PeerId id) {
  Listener *l = impl_->find_listener(id);
  if (!l) return media_error(ErrorKind::kConflict, "not_listening", "Send 'listen' first.");
  if (!l->feed->held.load()) return std::nullopt;
  // What the controller learnt while nothing was sent says nothing of the audio: it starts
  // afresh, as for a new listener: at the lowest profile on automatic quality (a pin held
  // meanwhile stays), probing by redundancy when the answer took RED.
  bool pinned = l->controller->pinned();
  bool by_redundancy = l->controller->probe_by_redundancy();
  size_t start = pinned ? l->tier : 0;
  l->controller = std::make_unique<BandwidthController>(impl_->profiles, start);
  l->controller->set_probe_by_redundancy(by_redundancy);
  if (pinned) l->controller->pin(start, g_get_monotonic_time() / 1000);
  if (start != l->tier) impl_->switch_tier(*l, start, "initial");
  l->feed->held.store(false);
  log_media(LogLevel::kDebug, "listener " + l->user_id() + " in " + l->class_id() + ": playing");
  return std::nullopt;
}

std::optional<Error> MediaEngine::remote_answer(PeerId id, const std::string &sdp) {
  Peer *p = impl_->find(id);
  if (!p) return media_error(ErrorKind::kConflict, "no_session", "No media session to answer.");
  return p->remote_answer(sdp);
}

std::optional<Error> MediaEngine::remote_candidate(PeerId id, unsigned mline,
                                                   const std::string &candidate) {
  Peer *p = impl_->find(id);
  if (!p) return media_error(ErrorKind::kConflict, "no_session", "No media session for ICE.");
  if (mline > 16)
    return media_error(ErrorKind::kInvalid, "invalid_field", "Field 'sdpMLineIndex' is too big.");
  return p->remote_candidate(mline, candidate);
}

std::optional<Error> MediaEngine::set_profile(PeerId id, const std::string &profile) {
  Listener *l = impl_->find_listener(id);
  if (!l) return media_error(ErrorKind::kConflict, "not_listening", "Send 'listen' first.");
  int64_t now = g_get_monotonic_time() / 1000;
  if (profile == "auto") {
    if (!l->controller->pinned()) return std::nullopt;  // already automatic
    auto d = l->controller->pin(std::nullopt, now);
    // Where the controller has the listener: a switch still waiting for its encoder goes on.
    impl_->switch_tier(*l, l->pending_tier.value_or(l->tier), "auto");
    if (d) impl_->switch_tier(*l, d->index, d->reason);
    return std::nullopt;
  }
  const BandwidthProfile *bp = impl_->profiles.find(profile);
  if (!bp) return profile_error(impl_->profiles);
  size_t index = static_cast<size_t>(bp - impl_->profiles.all().data());
  // The same pin again (the WebSocket choice echoed by the REST pin event) changes nothing; one
  // still waiting for its encoder counts as made.
  if (l->controller->pinned() && l->pending_tier.value_or(l->tier) == index) return std::nullopt;
  l->controller->pin(index, now);
  impl_->switch_tier(*l, index, "pinned");
  return std::nullopt;
}

std::optional<Error> MediaEngine::client_report(PeerId id, int downlink_kbps, int rtt_ms,
                                                double loss, std::optional<bool> downloading) {
  Listener *l = impl_->find_listener(id);
  if (!l) return media_error(ErrorKind::kConflict, "not_listening", "Send 'listen' first.");
  if (l->feed->held.load()) return std::nullopt;  // nothing sent yet: nothing to judge
  l->log_report("client", loss, rtt_ms);
  LinkReport r;
  r.now_ms = g_get_monotonic_time() / 1000;
  if (downlink_kbps >= 0) r.downlink_kbps = downlink_kbps;
  if (rtt_ms >= 0) r.rtt_ms = rtt_ms;
  if (loss >= 0) r.loss_fraction = loss;
  r.downloading = downloading;
  if (loss >= 0) l->note_loss(loss, r.now_ms);
  if (auto d = l->controller->report(r)) impl_->switch_tier(*l, d->index, d->reason);
  l->sync_probe(r.now_ms);
  return std::nullopt;
}

void MediaEngine::pin_user(const std::string &class_id, const std::string &user_id,
                           const std::string &profile) {
  auto c = impl_->classes.find(class_id);
  if (c == impl_->classes.end()) return;
  auto l = c->second->listeners.find(user_id);
  if (l != c->second->listeners.end()) set_profile(l->second, profile);
}

void MediaEngine::close(PeerId id) {
  if (Peer *p = impl_->find(id)) impl_->close_peer(*p, "closed", false);
}

void MediaEngine::slide_moved(const std::string &class_id) {
  auto c = impl_->classes.find(class_id);
  if (c == impl_->classes.end()) return;
  int64_t now = g_get_monotonic_time() / 1000;
  for (auto &[user, id] : c->second->listeners)
    if (Listener *l = impl_->find_listener(id)) {
      l->controller->yield_to_slide(now);
      l->sync_probe(now);
    }
}

void MediaEngine::end_class(const std::string &class_id) {
  auto it = impl_->classes.find(class_id);
  if (it != impl_->classes.end()) impl_->end_class(it->second.get());
}

Result<RecordingId> MediaEngine::record(const std::string &class_id, const std::string &path,
                                        int bitrate_bps, RecordingObserver observer) {
  auto cp = impl_->class_pipeline(class_id);
  if (!cp) return cp.error();
  ClassPipeline *c = *cp;
  RecordingId id = impl_->next_recording++;
  // From the branch's streaming thread to the main loop, always queued (never run in the calling
  // thread, even while nobody iterates the main context, as during shutdown).
  Recorder::News news = [engine = impl_.get(), id, watch = impl_->lifetime.watch()](
                            RecordingState state, const std::string &detail) {
    run_later([engine, id, watch, state, detail] {
      if (watch.alive()) engine->recorder_done(id, state, detail);
    });
  };
  auto r = Recorder::attach(c->pipeline(), c->tee(), id, path, impl_->pipes.recorder(bitrate_bps),
                            std::move(news));
  if (!r) return r.error();
  (*r)->observer = std::move(observer);
  c->recorders[id] = *r;
  impl_->recording_class[id] = c;
  log_media(LogLevel::kInfo, "class " + class_id + ": recording to " + path);
  return id;
}

void MediaEngine::stop_recording(RecordingId id) {
  auto it = impl_->recording_class.find(id);
  if (it == impl_->recording_class.end()) return;
  auto r = it->second->recorders.find(id);
  if (r != it->second->recorders.end()) r->second->end();
}

std::optional<ListenerStats> MediaEngine::stats(PeerId id) const {
  Listener *l = impl_->find_listener(id);
  if (!l) return std::nullopt;
  ListenerStats s;
  auto c = impl_->classes.find(l->class_id());
  if (c != impl_->classes.end()) s.profile = c->second->tier(l->tier).profile().name;
  s.pinned = l->controller->pinned();
  s.frames_sent = l->feed->sent.load();
  s.loss_fraction = l->loss;
  s.rtt_ms = l->rtt_ms;
  return s;
}

size_t MediaEngine::listener_count(const std::string &class_id) const {
  auto c = impl_->classes.find(class_id);
  if (c == impl_->classes.end()) return 0;
  size_t n = 0;
  for (const auto &[user, id] : c->second->listeners) {
    const Listener *l = impl_->find_listener(id);
    if (l && !l->feed->held.load()) n++;
  }
  return n;
}

}  // namespace gramothi
