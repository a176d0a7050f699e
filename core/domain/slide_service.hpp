// SlideService: decks from upload to the current slide, on the main loop.
//   upload: checks the caller's rights and records the deck (SlideStore, on the StorageWorker),
//           writes the PDF under data_dir/slides/decks without blocking, answers, then renders
//           it with DeckRender (worker processes under limits) into data_dir/slides/images,
//           recording each page as it comes and publishing "slides.progress" events.
//   list:   the active deck and its slides, with each profile's image URL.
//   sync:   next/previous/goto; publishes "slides.sync" with every profile's URL, so each
//           connected client can be sent the image of its own profile.
//   image:  a rendered image by its content hash, read without blocking.
// Images are content-addressed (the SHA-256 of the bytes is the name), so their URLs are
// immutable and unguessable; they need no token, which lets an <img> tag load them.
#pragma once

#include <glib.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "auth/jwt.hpp"
#include "base/event_bus.hpp"
#include "config/config.hpp"
#include "config/profiles.hpp"
#include "deck_render.hpp"
#include "storage/class_store.hpp"
#include "storage/slide_store.hpp"
#include "storage/storage_worker.hpp"

namespace gramothi {

class SlideService {
 public:
  using JsonCallback = std::function<void(Result<std::string>)>;
  using BytesCallback = std::function<void(Result<GBytes *>)>;  // borrowed for the call

  SlideService(const Config &config, const ProfileSet &profiles, StorageWorker &worker,
               EventBus &bus);
  ~SlideService();
  SlideService(const SlideService &) = delete;
  SlideService &operator=(const SlideService &) = delete;

  // `content_type` "application/pdf" (or empty / octet-stream) for a raw PDF body, or
  // multipart/form-data with the PDF as its file part. Answers the deck JSON.
  void upload(const TokenClaims &who, const std::string &class_id, GBytes *body,
              const std::string &content_type, JsonCallback done);
  void list(const std::string &class_id, JsonCallback done);
  // `order_no` <= 0: none.
  void sync(const TokenClaims &who, const std::string &class_id, const std::string &action,
            const std::string &slide_id, int64_t order_no, JsonCallback done);
  // `file` must be "<64 hex>.webp".
  void image(const std::string &file, BytesCallback done);

  // The public URL path of an image file.
  static std::string image_url(const std::string &file);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace gramothi
