// timeline.jsonl, a recording's slides and chat as they happened: one JSON object per line,
// each with `t_ms`, the offset from the audio's time 0, and a `type`:
//   {"t_ms", "type": "slide", "action": "current"|"next"|..., "slide": <the slide as listed>}
//   {"t_ms", "type": "chat", "message": <the chat message>}
//   {"t_ms", "type": "chat-removed", "message_id"}
// Writing makes one line at a time (the recorder appends it); reading makes the player's
// timeline out of the whole file.
#pragma once

#include <json-glib/json-glib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "index.hpp"

namespace gramothi::recording {

// The lines, without the newline. Offsets below 0 count as 0. `slide` and `message` are
// borrowed (copied into the line).
std::string slide_line(int64_t t_ms, const char *action, JsonNode *slide);
std::string chat_line(int64_t t_ms, JsonNode *message);
std::string chat_removed_line(int64_t t_ms, const char *message_id);

// The player's timeline {recording, profile, events}: slides with the image of `profile`,
// chat without the messages the teacher removed; `image_prefix` goes before each image's file
// name ("slides/" in the package, the public image URL online). Pure: runs on a FileWorker.
struct PlayerTimeline {
  std::string json;
  std::vector<std::string> images;  // the images' file names, each once
};
PlayerTimeline player_timeline(const Recording &r, const std::string &jsonl,
                               const std::string &profile, const std::string &image_prefix);

}  // namespace gramothi::recording
