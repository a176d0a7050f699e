// Who is connected to which class: rooms of clients, presence, the teachers' listener list, and
// the class events every socket of a room hears.
//
// Presence is coalesced: a join, a leave or a media session that starts or ends only marks the
// class (presence_changed, O(1)); at most once per kPresenceIntervalMs every socket of the class
// gets the counts and its teachers and admins the list of people (O(N) per interval, whatever
// the number of joins). The first change after a quiet interval goes out at once.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client.hpp"

namespace gramothi::signaling {

struct Signaling;

// Everyone connected to one class. Exists while it has clients (Signaling::rooms).
struct Room {
  std::set<std::shared_ptr<Client>> clients;  // sole owner of its clients
  // The authenticated sockets of each user, oldest first (borrowed: a client leaves it when it
  // closes, or when it is closed for being one too many).
  std::map<std::string, std::vector<Client *>> by_user;
  std::string current_slide;   // the last slides.sync event for the class (JSON), "" = none
  std::string last_listeners;  // the last `listeners` message sent to its teachers ("" = none)
};

// Another authenticated socket of `c`'s user in `room` that `match` accepts (by_user: no walk
// over the whole class), or nullptr.
Client *other_socket_of_user(const Room &room, const Client &c,
                             const std::function<bool(const Client &)> &match);

constexpr unsigned kPresenceIntervalMs = 1000;
constexpr size_t kMaxListedPeople = 500;  // entries of a `listeners` message

enum class Audience { kEveryone, kStaff };  // authenticated sockets; of those, teachers/admins

// Sends `text` to the audience among the class's sockets.
void broadcast(Signaling &s, const std::string &class_id, const std::string &text,
               Audience audience = Audience::kEveryone);

// Who is in the class changed (a socket authenticated or closed, a media session started or
// ended): its sockets get {"type": "presence", ...} and its teachers the list, coalesced.
void presence_changed(Signaling &s, const std::string &class_id);
// Only the teachers' list changed (a listener's state or profile): sent coalesced, if different.
void roster_changed(Signaling &s, const std::string &class_id);

// {"type": "listeners", "people": [...], "total", "listening"}, the teachers' view of who
// listens and how: the first kMaxListedPeople by user id.
std::string listeners_message(const Signaling &s, const Room &room);

// Sends the class's teachers the listener list when it changed.
void refresh_listeners(Signaling &s, const std::string &class_id);
// The list for a teacher or admin who just authenticated: the one last sent, else a new one.
void send_listeners_to(Signaling &s, Client &staff);

// Bus events (user_data: the Signaling).
void on_class_started(const char *topic, const char *payload, void *signaling);
void on_class_stopped(const char *topic, const char *payload, void *signaling);
void on_recording_state(const char *topic, const char *payload, void *signaling);
void on_class_teachers(const char *topic, const char *payload, void *signaling);

// An event payload parsed into `p`: its object, or nullptr.
JsonObject *parse_event(JsonParser *p, const char *payload);
// The "class_id" of an event payload, parsed into `p`; "" when there is none.
std::string payload_class(JsonParser *p, const char *payload);

}  // namespace gramothi::signaling
