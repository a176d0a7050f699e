// What the signaling plugin's parts offer each other: the handler of each client message
// (dispatch.cpp routes to them), the bus events each part follows, and the steps one part takes
// for another.
#pragma once

#include <cstddef>
#include <functional>

#include "../common/json_fields.hpp"
#include "client.hpp"
#include "gramothi/plugin.h"
#include "signaling.hpp"

namespace gramothi::signaling {

using plugin::JsonFields;

// What each client message does, by subject. dispatch.cpp calls them once a message's fields
// passed its table; they answer the remaining checks (role, session state) with errors about
// their own message type.

// connection.cpp: the WebSocket route's handlers, and authentication.
extern const GramothiWsHandlers kWsHandlers;  // user_data: the Signaling
void handle_authenticate(Client &c, const JsonFields &f);
// Asks the host again what the socket's principal may do in its class (grants change: an admin
// reassigns teachers, a renewed token grants less): updates c.teaches and runs `then`, or, when
// it may no longer attend, tells the client and closes the socket with 4403.
void check_access(Client &c, std::function<void(Client &)> then);

// dispatch.cpp
void handle_message(Client &c, const char *data, size_t length, bool is_text);
// Handles the messages that waited for the token check (Client::waiting), once authenticated.
void handle_waiting(Client &c);

// media.cpp
void handle_publish(Client &c, const JsonFields &f);
void handle_listen(Client &c, const JsonFields &f);
void handle_play(Client &c, const JsonFields &f);
void handle_resume(Client &c, const JsonFields &f);
void handle_answer(Client &c, const JsonFields &f);
void handle_ice_candidate(Client &c, const JsonFields &f);
void handle_profile(Client &c, const JsonFields &f);
void handle_bandwidth_report(Client &c, const JsonFields &f);
void handle_stop_media(Client &c, const JsonFields &f);
// Ends the client's media session, if any (and marks the class's presence changed).
void stop_media(Client &c);

// slides.cpp
void handle_slide_sync(Client &c, const JsonFields &f);
// The class's current slide, at the client's profile; `action` nullptr: the event's own.
void send_current_slide(Client &c, const char *action);
// Looks the class's current slide up for a client that just authenticated, and sends it.
void fetch_current_slide(Client &c);
void on_slides_sync(const char *topic, const char *payload, void *signaling);
void on_slides_progress(const char *topic, const char *payload, void *signaling);

// chat.cpp
void handle_chat_message(Client &c, const JsonFields &f);
void handle_chat_remove(Client &c, const JsonFields &f);
// The class's last messages, to a socket that just authenticated.
void send_chat_history(Client &c);
void on_chat_message(const char *topic, const char *payload, void *signaling);
void on_chat_removed(const char *topic, const char *payload, void *signaling);

}  // namespace gramothi::signaling
