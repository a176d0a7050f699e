// Peer: one WebRTC party of a class as the engine keeps it, the teacher (Publisher) or a student
// (a Listener, on either transport). Each is one file: publisher.cpp, webrtcbin_listener.cpp,
// lite_listener.cpp; the webrtcbin ones share WebrtcSession.
//
// Threading: everything here runs on the main loop. GStreamer threads reach a peer only through
// with_peer(), which hops to the main loop and finds the peer by id, if it is still there.
// Ownership: the engine owns peers (unique_ptr, by id); a peer borrows its PeerHost (the engine).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/lifetime.hpp"
#include "media/media_types.hpp"

namespace gramothi {

class Listener;
class LiteTransport;
class MediaPipelines;
class SharedClock;
class Peer;

// What a peer needs from the engine that owns it.
class PeerHost {
 public:
  virtual Peer *find(PeerId id) = 0;  // null when gone or closed
  virtual void set_state(Peer &peer, PeerState state, const std::string &detail) = 0;
  // Stops the peer's media; `notify`: tell its observer (kClosed, detail). Frees it later.
  virtual void close_peer(Peer &peer, const std::string &detail, bool notify) = 0;
  // Moves a listener's feed to profile `tier` (and tells the student why).
  virtual void switch_tier(Listener &listener, size_t tier, const std::string &reason) = 0;
  virtual const IceSettings &ice() const = 0;
  virtual const MediaPipelines &pipelines() const = 0;
  virtual const SharedClock &clock() const = 0;

 protected:
  ~PeerHost() = default;
};

class Peer {
 public:
  Peer(PeerHost &host, PeerId id, std::string class_id, std::string user_id, PeerObserver observer)
      : observer(std::move(observer)),
        host_(host),
        id_(id),
        class_id_(std::move(class_id)),
        user_id_(std::move(user_id)) {}
  Peer(const Peer &) = delete;
  Peer &operator=(const Peer &) = delete;
  virtual ~Peer() = default;

  PeerId id() const { return id_; }
  const std::string &class_id() const { return class_id_; }
  const std::string &user_id() const { return user_id_; }
  virtual bool is_listener() const { return false; }

  virtual std::optional<Error> remote_answer(const std::string &sdp) = 0;
  virtual std::optional<Error> remote_candidate(unsigned mline, const std::string &candidate) = 0;
  // Stops the peer's media (called once, by the engine's close_peer).
  virtual void stop_media() = 0;

  // kFailed (why), then closed (close_detail).
  void fail(const std::string &why, const std::string &close_detail) {
    host_.set_state(*this, PeerState::kFailed, why);
    host_.close_peer(*this, close_detail, true);
  }

  PeerObserver observer;
  PeerState state = PeerState::kNew;
  bool closed = false;
  Lifetime lifetime;  // ended when the peer closes (it is freed a little later)

  // How a GStreamer-thread callback names this peer.
  struct Ref {
    PeerHost *host;
    PeerId id;
    Lifetime::Watch watch;
  };
  Ref ref() const { return Ref{&host_, id_, lifetime.watch()}; }

 protected:
  PeerHost &host_;

 private:
  PeerId id_;
  std::string class_id_, user_id_;
};

// Runs fn(peer) on the main loop if the peer is still there (from any thread).
void with_peer(const Peer::Ref &ref, std::function<void(Peer &)> fn);

}  // namespace gramothi
