#include "media/tier.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "base/main_loop.hpp"
#include "media/gst_support.hpp"
#include "transport/lite_transport.hpp"
#include "transport/rtp_wire.hpp"

namespace gramothi {

int fec_loss_hint(std::vector<double> loss, int profile_default) {
  if (loss.empty()) return profile_default;
  size_t k = (loss.size() * 9) / 10;
  if (k >= loss.size()) k = loss.size() - 1;
  std::nth_element(loss.begin(), loss.begin() + static_cast<std::ptrdiff_t>(k), loss.end());
  double pct = std::clamp(loss[k], 0.0, 1.0) * 100;
  return std::clamp(static_cast<int>(std::ceil(pct)) + 1, 2, 30);
}

int probe_redundancy_x100(const BandwidthProfile &from, const BandwidthProfile &to, bool lossy) {
  int from_red = std::max(from.audio_redundancy, lossy ? 1 : 0);
  double target = audio_wire_kbps(to, std::max(to.audio_redundancy, lossy ? 1 : 0)) * kProbeMargin;
  // audio_wire_kbps is linear in the redundancy from one repeat on: solve wire(from, r) = target.
  double one = audio_wire_kbps(from, 1), per_repeat = audio_wire_kbps(from, 2) - one;
  double r = per_repeat > 0 ? 1 + (target - one) / per_repeat : 0;
  int x100 = static_cast<int>(std::ceil(std::clamp(r, 0.0, 100.0) * 100));
  return std::clamp(x100, from_red * 100 + 1, max_repeats(from) * 100);
}

size_t red_fit_tier(const std::vector<BandwidthProfile> &profiles, size_t tier) {
  if (tier >= profiles.size()) return tier;
  double carried = audio_wire_kbps(profiles[tier], profiles[tier].audio_redundancy) * kProbeMargin;
  for (size_t i = tier + 1; i-- > 0;)
    if (audio_wire_kbps(profiles[i], std::max(profiles[i].audio_redundancy, 1)) <= carried)
      return i;
  return 0;
}

std::optional<int> Tier::tune_fec(std::vector<double> listener_loss) {
  int hint = fec_loss_hint(std::move(listener_loss), profile_.opus_loss_pct);
  if (!opusenc_ || std::abs(hint - fec_loss_pct_) < 2) return std::nullopt;
  g_object_set(opusenc_, "packet-loss-percentage", hint, nullptr);
  g_object_get(opusenc_, "packet-loss-percentage", &fec_loss_pct_,
               nullptr);  // as the encoder has it
  return fec_loss_pct_;
}

Tier::~Tier() {
  if (linger_) g_source_remove(linger_);
}

void Tier::use() {
  users_++;
  if (linger_) {
    g_source_remove(linger_);
    linger_ = 0;
  }
  if (on_.load()) return;
  warm_.store(false);
  on_.store(true, std::memory_order_release);
  log_media(LogLevel::kInfo, label_ + ": encoder on");
}

void Tier::unuse() {
  if (users_ <= 0 || --users_ > 0 || linger_) return;
  linger_ = g_timeout_add_full(
      G_PRIORITY_DEFAULT, linger_ms_,
      [](gpointer self) -> gboolean {
        auto *t = static_cast<Tier *>(self);
        t->linger_ = 0;
        t->on_.store(false, std::memory_order_release);
        t->warm_.store(false);
        log_media(LogLevel::kInfo, t->label_ + ": encoder off (no listener for " +
                                       std::to_string(t->linger_ms_) + " ms)");
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
}

void Tier::add(const std::shared_ptr<Feed> &feed) {
  use();
  std::lock_guard lock(mutex_);
  feeds_.push_back(feed);
}

void Tier::remove(const std::shared_ptr<Feed> &feed) {
  {
    std::lock_guard lock(mutex_);
    auto it = std::find(feeds_.begin(), feeds_.end(), feed);
    if (it == feeds_.end()) return;
    feeds_.erase(it);
  }
  unuse();
}

void Tier::deliver(GstBuffer *buffer) {
  // Frames the queue still held when the encoder went off reach nobody (it has no user).
  if (!on_.load(std::memory_order_acquire)) return;
  if (!warm_.load(std::memory_order_acquire) && !warm_.exchange(true) && on_warm)
    run_on_main(on_warm);
  GstClockTime pts = GST_BUFFER_PTS(buffer);
  GstClockTime dur = GST_BUFFER_DURATION(buffer);
  thread_local std::vector<OutPacket> batch;
  size_t batched = 0;
  GstMapInfo map;
  bool mapped = false;
  std::lock_guard lock(mutex_);
  for (auto &f : feeds_) {
    if (f->held.load()) continue;
    std::lock_guard flock(f->mutex);
    // Right after a switch the new profile's frames may overlap what was already sent:
    // skip those, so timestamps only move forward (the gap is at most one frame).
    if (GST_CLOCK_TIME_IS_VALID(f->next_pts) && GST_CLOCK_TIME_IS_VALID(pts) &&
        pts + GST_MSECOND < f->next_pts)
      continue;
    if (f->lite) {
      if (!mapped && !(mapped = gst_buffer_map(buffer, &map, GST_MAP_READ))) return;
      if (batch.size() <= batched) batch.resize(batched + 16);
      int probe = next_probe_repeats(f->probe_redundancy_x100.load(), f->probe_carry);
      int redundancy = std::max({profile_.audio_redundancy, probe, f->loss_redundancy.load()});
      if (GST_CLOCK_TIME_IS_VALID(pts) &&
          f->lite->pack(map.data, map.size, pts, batch[batched], redundancy)) {
        f->sent_bytes += static_cast<uint64_t>(batch[batched].len) + 28;
        batched++;
        f->sent++;
      }
    } else {
      if (gst_app_src_push_buffer(f->src.get(), gst_buffer_ref(buffer)) != GST_FLOW_OK) continue;
      f->sent++;
    }
    if (GST_CLOCK_TIME_IS_VALID(pts) && GST_CLOCK_TIME_IS_VALID(dur)) f->next_pts = pts + dur;
  }
  if (mapped) gst_buffer_unmap(buffer, &map);
  LiteTransport::send(batch.data(), batched);
}

}  // namespace gramothi
