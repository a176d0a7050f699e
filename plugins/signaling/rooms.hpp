// Who is connected to which class: rooms of clients, presence, the teachers' listener list, and
// the class events every socket of a room hears.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "client.hpp"

namespace gramothi::signaling {

struct Signaling;

// Everyone connected to one class. Exists while it has clients (Signaling::rooms).
struct Room {
  std::set<std::shared_ptr<Client>> clients;  // sole owner of its clients
  std::string current_slide;   // the last slides.sync event for the class (JSON), "" = none
  std::string last_listeners;  // the last `listeners` message sent to its teachers
};

enum class Audience { kEveryone, kStaff };  // authenticated sockets; of those, teachers/admins

// Sends `text` to the audience among the class's sockets.
void broadcast(Signaling &s, const std::string &class_id, const std::string &text,
               Audience audience = Audience::kEveryone);

// {"type": "presence", "event", ...} about `about` to the class, then the listener list.
void broadcast_presence(Signaling &s, const Client &about, const char *event);

// {"type": "listeners", "people": [...]}, the teachers' view of who listens and how.
std::string listeners_message(const Signaling &s, const Room &room);

// Sends the class's teachers the listener list when it changed.
void refresh_listeners(Signaling &s, const std::string &class_id);

// Bus events (user_data: the Signaling).
void on_class_started(const char *topic, const char *payload, void *signaling);
void on_class_stopped(const char *topic, const char *payload, void *signaling);
void on_recording_state(const char *topic, const char *payload, void *signaling);

// An event payload parsed into `p`: its object, or nullptr.
JsonObject *parse_event(JsonParser *p, const char *payload);
// The "class_id" of an event payload, parsed into `p`; "" when there is none.
std::string payload_class(JsonParser *p, const char *payload);

}  // namespace gramothi::signaling
