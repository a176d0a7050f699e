#include "media/webrtc_session.hpp"

#include "media/gst_support.hpp"

namespace gramothi {
namespace {

Peer::Ref *new_ref(Peer &peer) {
  return new Peer::Ref(peer.ref());
}
void free_ref(gpointer data, GClosure *) {
  delete static_cast<Peer::Ref *>(data);
}

// The public address of a 1:1 NAT in place of the local one, in a host candidate.
std::string rewrite_host_candidate(const std::string &candidate, const std::string &nat_address) {
  if (nat_address.empty() || candidate.find(" typ host") == std::string::npos) return candidate;
  std::string out = candidate;
  gchar **parts = g_strsplit(candidate.c_str(), " ", -1);
  if (g_strv_length(parts) > 5) {
    g_free(parts[4]);
    parts[4] = g_strdup(nat_address.c_str());
    g_autofree char *joined = g_strjoinv(" ", parts);
    out = joined;
  }
  g_strfreev(parts);
  return out;
}

// Candidates reach the observer with a 1:1 NAT's public address in place of the local one.
void on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
  auto *ref = static_cast<Peer::Ref *>(data);
  PeerHost *host = ref->host;
  std::string c = candidate ? candidate : "";
  with_peer(*ref, [host, mline, c](Peer &p) {
    std::string out = rewrite_host_candidate(c, host->ice().nat_1to1_address);
    if (p.observer.local_candidate) p.observer.local_candidate(mline, out);
  });
}

void on_ice_gathering_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  GstWebRTCICEGatheringState s;
  g_object_get(webrtc, "ice-gathering-state", &s, nullptr);
  if (s != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
  with_peer(*static_cast<Peer::Ref *>(data), [](Peer &p) {
    if (p.observer.local_candidate) p.observer.local_candidate(0, "");
  });
}

std::optional<PeerState> peer_state(GstWebRTCPeerConnectionState s) {
  switch (s) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      return PeerState::kConnecting;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      return PeerState::kConnected;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      return PeerState::kFailed;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      return PeerState::kDisconnected;
    default:
      return std::nullopt;
  }
}

void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  GstWebRTCPeerConnectionState s;
  g_object_get(webrtc, "connection-state", &s, nullptr);
  auto state = peer_state(s);
  if (!state) return;
  auto *ref = static_cast<Peer::Ref *>(data);
  PeerHost *host = ref->host;
  with_peer(*ref, [host, state](Peer &p) { host->set_state(p, *state, ""); });
}

gboolean on_bus(GstBus *, GstMessage *msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR) return G_SOURCE_CONTINUE;
  g_autoptr(GError) err = nullptr;
  g_autofree char *debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  auto *ref = static_cast<Peer::Ref *>(data);
  std::string why = err ? err->message : "pipeline error";
  log_media(LogLevel::kWarning, "peer " + std::to_string(ref->id) + ": " + why +
                                    (debug ? std::string(" (") + debug + ")" : ""));
  with_peer(*ref, [why](Peer &p) { p.fail(why, "media-error"); });
  return G_SOURCE_CONTINUE;
}

}  // namespace

std::optional<Error> WebrtcSession::create(Peer &peer, PeerHost &host, const std::string &name,
                                           bool receives) {
  pipeline_ =
      GRef<GstElement>::adopt(GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new(name.c_str()))));
  host.clock().apply(pipeline_.get());
  webrtc_ = gst_element_factory_make("webrtcbin", nullptr);
  if (!webrtc_) {
    pipeline_.reset();
    return media_error(ErrorKind::kInternal, "media_error", "webrtcbin is not installed");
  }
  gst_bin_add(GST_BIN(pipeline_.get()), webrtc_);

  const IceSettings &ice = host.ice();
  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, nullptr);
  if (!ice.stun_server.empty())
    g_object_set(webrtc_, "stun-server", ice.stun_server.c_str(), nullptr);
  if (receives)
    g_object_set(webrtc_, "latency", static_cast<guint>(ice.ingest_latency_ms), nullptr);
  GstWebRTCICE *agent = nullptr;
  g_object_get(webrtc_, "ice-agent", &agent, nullptr);
  if (agent) {
    GObjectClass *k = G_OBJECT_GET_CLASS(agent);
    if (g_object_class_find_property(k, "ice-tcp")) g_object_set(agent, "ice-tcp", FALSE, nullptr);
    if (ice.port_min > 0 && g_object_class_find_property(k, "min-rtp-port"))
      g_object_set(agent, "min-rtp-port", static_cast<guint>(ice.port_min), "max-rtp-port",
                   static_cast<guint>(ice.port_max), nullptr);
    if (g_object_class_find_property(k, "agent")) {
      GObject *nice = nullptr;
      g_object_get(agent, "agent", &nice, nullptr);
      if (nice) {
        if (g_object_class_find_property(G_OBJECT_GET_CLASS(nice), "upnp"))
          g_object_set(nice, "upnp", FALSE, nullptr);
        g_object_unref(nice);
      }
    }
    for (const auto &addr : ice.local_addresses) {
      gboolean ok = FALSE;
      g_signal_emit_by_name(agent, "add-local-ip-address", addr.c_str(), &ok);
      if (!ok) log_media(LogLevel::kWarning, "cannot gather on " + addr);
    }
    gst_object_unref(agent);
  }
  g_signal_connect_data(webrtc_, "on-ice-candidate", G_CALLBACK(on_ice_candidate), new_ref(peer),
                        free_ref, GConnectFlags(0));
  g_signal_connect_data(webrtc_, "notify::ice-gathering-state", G_CALLBACK(on_ice_gathering_state),
                        new_ref(peer), free_ref, GConnectFlags(0));
  g_signal_connect_data(webrtc_, "notify::connection-state", G_CALLBACK(on_connection_state),
                        new_ref(peer), free_ref, GConnectFlags(0));
  g_autoptr(GstBus) bus = gst_pipeline_get_bus(GST_PIPELINE(pipeline_.get()));
  bus_watch_ = gst_bus_add_watch_full(bus, G_PRIORITY_DEFAULT, on_bus, new_ref(peer),
                                      [](gpointer d) { delete static_cast<Peer::Ref *>(d); });
  return std::nullopt;
}

void WebrtcSession::add_candidate(unsigned mline, const std::string &candidate) {
  // An empty candidate marks the end of the remote candidates.
  g_signal_emit_by_name(webrtc_, "add-ice-candidate", mline,
                        candidate.empty() ? nullptr : candidate.c_str());
}

void WebrtcSession::stop() {
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
  if (pipeline_) {
    stop_srtp_input(pipeline_.get());
    gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
  }
  pipeline_.reset();
  webrtc_ = nullptr;
}

std::string WebrtcSession::sdp_text(const GstWebRTCSessionDescription *description) {
  g_autofree gchar *text = gst_sdp_message_as_text(description->sdp);
  return text ? text : "";
}

OwnedDescription take_description(GstPromise *promise, const char *field) {
  GstWebRTCSessionDescription *d = nullptr;
  if (const GstStructure *reply = gst_promise_get_reply(promise))
    gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &d, nullptr);
  return OwnedDescription(d);
}

}  // namespace gramothi
