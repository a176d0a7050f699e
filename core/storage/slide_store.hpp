// Decks, their slides and each class's current slide, on a Database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/role.hpp"
#include "storage/class_store.hpp"
#include "storage/database.hpp"

namespace gramothi {

struct DeckInfo {
  std::string deck_id, class_id, uploaded_by, file_name;
  int64_t source_bytes = 0;
  std::string status;                 // "rendering", "ready" or "failed"
  std::optional<int64_t> page_count;  // known once the worker has opened the PDF
  int64_t pages_done = 0, pages_failed = 0;
  std::optional<std::string> error_code, error_message;
  int64_t created_at_ms = 0;
  bool active = false;
};

struct SlideInfo {
  std::string slide_id;  // "<deck_id>-<order_no>"
  std::string deck_id;
  int64_t order_no = 0;
  std::string status;  // "ready" or "failed"
  std::string text;
  std::string images_json;  // {"<profile>": {"file":..., "width":..., "height":..., "bytes":...}}
  std::optional<std::string> error;
};

// A class's active deck and its slides in order (empty when the class has no deck).
struct DeckSlides {
  std::optional<DeckInfo> deck;
  std::vector<SlideInfo> slides;
  std::optional<std::string> current_slide_id;
};

// Where a slide move left the class. `changed` false: nothing moved (`reason` says why:
// "first_slide", "last_slide", "same_slide"). `next` is the slide after the current one.
struct SlideMove {
  bool changed = false;
  std::string reason;
  SlideInfo current;
  std::optional<SlideInfo> next;
};

// Decks and the current slide. Same transaction and error rules as ClassStore:
//   create_deck: students -> kForbidden "forbidden_role"; a teacher who does not own the class
//          -> kForbidden "not_class_owner" (admins may). An unknown class is created, not live,
//          owned by the uploader (decks are prepared before class). The new deck becomes the
//          class's active deck and the current slide is cleared until its first page is ready.
//   record_pages / add_slide / finish_deck: the renderer's progress; add_slide makes a ready
//          page 1 of the active deck the current slide when there is none. Returns true then.
//   move: action "next", "previous" or "goto" (slide_id, or order_no >= 1) among the active
//          deck's ready slides. Students -> kForbidden "forbidden_role"; not a teacher
//          of the class -> "not_class_owner"; no deck or no ready slide -> kConflict "no_slides";
//          an unknown target -> kNotFound "slide_not_found". The first/last slide: changed=false.
class SlideStore {
 public:
  explicit SlideStore(Database &db) : db_(db) {}

  Result<DeckInfo> create_deck(const std::string &class_id, const Actor &who,
                               const std::string &deck_id, const std::string &file_name,
                               int64_t source_bytes, int64_t now_ms);
  Result<DeckInfo> record_page_count(const std::string &deck_id, int64_t pages);
  Result<bool> add_slide(const SlideInfo &slide);
  Result<DeckInfo> finish_deck(const std::string &deck_id, const std::string &status,
                               const std::optional<std::string> &error_code,
                               const std::optional<std::string> &error_message);
  Result<DeckInfo> deck(const std::string &deck_id);
  Result<DeckSlides> active_slides(const std::string &class_id);
  Result<SlideMove> move(const std::string &class_id, const Actor &who, const std::string &action,
                         const std::optional<std::string> &slide_id,
                         std::optional<int64_t> order_no);
  // Decks left "rendering" by a server that stopped: marked failed at start.
  Result<int64_t> fail_unfinished(int64_t now_ms);

 private:
  Database &db_;
};

}  // namespace gramothi
