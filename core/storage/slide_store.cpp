// Decks, slides and the current slide, written once for both backends.
#include "storage/slide_store.hpp"

#include "storage/store_support.hpp"

namespace gramothi {
namespace {

const char *kDeckColumns =
    "d.deck_id, d.class_id, d.uploaded_by, d.file_name, d.source_bytes, d.status, d.page_count, "
    "d.pages_done, d.pages_failed, d.error_code, d.error_message, d.created_at_ms, "
    "c.active_deck_id";

DeckInfo deck_from(const SqlRow &r) {
  DeckInfo d;
  d.deck_id = r[0].value_or("");
  d.class_id = r[1].value_or("");
  d.uploaded_by = r[2].value_or("");
  d.file_name = r[3].value_or("");
  d.source_bytes = to_i64(r[4]);
  d.status = r[5].value_or("");
  if (r[6]) d.page_count = to_i64(r[6]);
  d.pages_done = to_i64(r[7]);
  d.pages_failed = to_i64(r[8]);
  d.error_code = r[9];
  d.error_message = r[10];
  d.created_at_ms = to_i64(r[11]);
  d.active = r[12] && *r[12] == d.deck_id;
  return d;
}

const char *kSlideColumns = "slide_id, deck_id, order_no, status, text, images, error";

SlideInfo slide_from(const SqlRow &r) {
  SlideInfo s;
  s.slide_id = r[0].value_or("");
  s.deck_id = r[1].value_or("");
  s.order_no = to_i64(r[2]);
  s.status = r[3].value_or("");
  s.text = r[4].value_or("");
  s.images_json = r[5].value_or("{}");
  s.error = r[6];
  return s;
}

std::optional<DeckInfo> read_deck(Database &db, const std::string &deck_id) {
  auto rows = db.query(std::string("SELECT ") + kDeckColumns +
                           " FROM decks d JOIN classes c ON c.class_id = d.class_id "
                           "WHERE d.deck_id = $1",
                       {deck_id});
  if (rows.empty()) return std::nullopt;
  return deck_from(rows[0]);
}

Error deck_not_found(const std::string &deck_id) {
  return Error{ErrorKind::kNotFound, "deck_not_found", "Deck '" + deck_id + "' does not exist."};
}

}  // namespace

Result<DeckInfo> SlideStore::create_deck(const std::string &class_id, const Actor &who,
                                         const std::string &deck_id, const std::string &file_name,
                                         int64_t source_bytes, int64_t now_ms) {
  const std::string &user_id = who.user_id;
  if (who.role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not upload slides."};
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    auto cls = lock_class(db_, class_id);
    if (!may_teach(db_, class_id, who)) return not_owner(class_id);
    if (!cls)
      db_.query(
          "INSERT INTO classes (class_id, owner_id, state, created_at_ms) VALUES ($1, $2, "
          "'ended', $3)",
          {class_id, user_id, num(now_ms)});
    db_.query(
        "INSERT INTO decks (deck_id, class_id, uploaded_by, file_name, source_bytes, status, "
        "created_at_ms) VALUES ($1, $2, $3, $4, $5, 'rendering', $6)",
        {deck_id, class_id, user_id, file_name, num(source_bytes), num(now_ms)});
    db_.query("UPDATE classes SET active_deck_id = $1, current_slide_id = NULL WHERE class_id = $2",
              {deck_id, class_id});
    return *read_deck(db_, deck_id);
  });
}

Result<DeckInfo> SlideStore::record_page_count(const std::string &deck_id, int64_t pages) {
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    db_.query("UPDATE decks SET page_count = $1 WHERE deck_id = $2", {num(pages), deck_id});
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  });
}

Result<bool> SlideStore::add_slide(const SlideInfo &slide) {
  return in_transaction<bool>(db_, [&]() -> Result<bool> {
    auto d = read_deck(db_, slide.deck_id);
    if (!d) return deck_not_found(slide.deck_id);
    auto existing = db_.query("SELECT 1 FROM slides WHERE slide_id = $1", {slide.slide_id});
    if (!existing.empty()) return false;  // a page reported twice counts once
    db_.query(std::string("INSERT INTO slides (") + kSlideColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
              {slide.slide_id, slide.deck_id, num(slide.order_no), slide.status, slide.text,
               slide.images_json, slide.error});
    db_.query(slide.status == "ready"
                  ? "UPDATE decks SET pages_done = pages_done + 1 WHERE deck_id = $1"
                  : "UPDATE decks SET pages_failed = pages_failed + 1 WHERE deck_id = $1",
              {slide.deck_id});
    if (slide.status != "ready" || slide.order_no != 1 || !d->active) return false;
    auto cls = db_.query("SELECT current_slide_id FROM classes WHERE class_id = $1", {d->class_id});
    if (!cls.empty() && cls[0][0]) return false;
    db_.query("UPDATE classes SET current_slide_id = $1 WHERE class_id = $2",
              {slide.slide_id, d->class_id});
    return true;
  });
}

Result<DeckInfo> SlideStore::finish_deck(const std::string &deck_id, const std::string &status,
                                         const std::optional<std::string> &error_code,
                                         const std::optional<std::string> &error_message) {
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    db_.query(
        "UPDATE decks SET status = $1, error_code = $2, error_message = $3 WHERE deck_id = $4",
        {status, error_code, error_message, deck_id});
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  });
}

Result<DeckInfo> SlideStore::deck(const std::string &deck_id) {
  try {
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<DeckSlides> SlideStore::active_slides(const std::string &class_id) {
  try {
    auto cls = db_.query("SELECT active_deck_id, current_slide_id FROM classes WHERE class_id = $1",
                         {class_id});
    if (cls.empty()) return not_found(class_id);
    DeckSlides out;
    out.current_slide_id = cls[0][1];
    if (!cls[0][0]) return out;
    out.deck = read_deck(db_, *cls[0][0]);
    for (const auto &r : db_.query(std::string("SELECT ") + kSlideColumns +
                                       " FROM slides WHERE deck_id = $1 ORDER BY order_no",
                                   {*cls[0][0]}))
      out.slides.push_back(slide_from(r));
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<SlideMove> SlideStore::move(const std::string &class_id, const Actor &who,
                                   const std::string &action,
                                   const std::optional<std::string> &slide_id,
                                   std::optional<int64_t> order_no) {
  if (who.role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not move slides."};
  return in_transaction<SlideMove>(db_, [&]() -> Result<SlideMove> {
    auto cls = lock_class(db_, class_id);
    if (!may_teach(db_, class_id, who)) return not_owner(class_id);
    if (!cls) return not_found(class_id);
    auto row = db_.query("SELECT active_deck_id, current_slide_id FROM classes WHERE class_id = $1",
                         {class_id});
    std::vector<SlideInfo> ready;
    if (row[0][0])
      for (const auto &r : db_.query(std::string("SELECT ") + kSlideColumns +
                                         " FROM slides WHERE deck_id = $1 AND status = 'ready' "
                                         "ORDER BY order_no",
                                     {*row[0][0]}))
        ready.push_back(slide_from(r));
    if (ready.empty())
      return Error{ErrorKind::kConflict, "no_slides",
                   "Class '" + class_id + "' has no rendered slides yet."};
    size_t at = 0;
    bool has_current = false;
    for (size_t i = 0; i < ready.size(); i++)
      if (row[0][1] && ready[i].slide_id == *row[0][1]) at = i, has_current = true;
    size_t target = at;
    SlideMove m;
    if (action == "next") {
      if (has_current && at + 1 >= ready.size())
        m.reason = "last_slide";
      else if (has_current)
        target = at + 1;
    } else if (action == "previous") {
      if (has_current && at == 0)
        m.reason = "first_slide";
      else if (has_current)
        target = at - 1;
    } else {  // goto
      bool found = false;
      for (size_t i = 0; i < ready.size(); i++)
        if ((slide_id && ready[i].slide_id == *slide_id) ||
            (!slide_id && order_no && ready[i].order_no == *order_no))
          target = i, found = true;
      if (!found)
        return Error{ErrorKind::kNotFound, "slide_not_found",
                     "No rendered slide " +
                         (slide_id ? "'" + *slide_id + "'" : std::to_string(order_no.value_or(0))) +
                         " in the class's deck."};
      if (has_current && target == at) m.reason = "same_slide";
    }
    m.changed = m.reason.empty();
    m.current = ready[target];
    if (target + 1 < ready.size()) m.next = ready[target + 1];
    if (m.changed)
      db_.query("UPDATE classes SET current_slide_id = $1 WHERE class_id = $2",
                {m.current.slide_id, class_id});
    return m;
  });
}

Result<int64_t> SlideStore::fail_unfinished(int64_t) {
  return in_transaction<int64_t>(db_, [&]() -> Result<int64_t> {
    auto rows = db_.query("SELECT count(*) FROM decks WHERE status = 'rendering'");
    db_.query(
        "UPDATE decks SET status = 'failed', error_code = 'interrupted', error_message = "
        "'The server stopped while the deck was rendering; upload it again.' "
        "WHERE status = 'rendering'");
    return to_i64(rows.at(0).at(0));
  });
}

}  // namespace gramothi
