#include "media/tier.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

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

int probe_redundancy(const BandwidthProfile &from, const BandwidthProfile &to, bool lossy) {
  int from_red = std::max(from.audio_redundancy, lossy ? 1 : 0);
  int to_kbps = to.audio_bitrate_kbps * (1 + std::max(to.audio_redundancy, lossy ? 1 : 0));
  int copies = (to_kbps + from.audio_bitrate_kbps - 1) /
               std::max(1, from.audio_bitrate_kbps);  // ceil(to / from)
  return std::clamp(std::max(copies - 1, from_red + 1), 1,
                    static_cast<int>(rtp::kMaxRedundantFrames));
}

std::optional<int> Tier::tune_fec(std::vector<double> listener_loss) {
  int hint = fec_loss_hint(std::move(listener_loss), profile_.opus_loss_pct);
  if (!opusenc_ || std::abs(hint - fec_loss_pct_) < 2) return std::nullopt;
  g_object_set(opusenc_, "packet-loss-percentage", hint, nullptr);
  g_object_get(opusenc_, "packet-loss-percentage", &fec_loss_pct_,
               nullptr);  // as the encoder has it
  return fec_loss_pct_;
}

void Tier::add(const std::shared_ptr<Feed> &feed) {
  std::lock_guard lock(mutex_);
  feeds_.push_back(feed);
}

void Tier::remove(const std::shared_ptr<Feed> &feed) {
  std::lock_guard lock(mutex_);
  std::erase(feeds_, feed);
}

void Tier::deliver(GstBuffer *buffer) {
  GstClockTime pts = GST_BUFFER_PTS(buffer);
  GstClockTime dur = GST_BUFFER_DURATION(buffer);
  thread_local std::vector<OutPacket> batch;
  size_t batched = 0;
  GstMapInfo map;
  bool mapped = false;
  std::lock_guard lock(mutex_);
  for (auto &f : feeds_) {
    std::lock_guard flock(f->mutex);
    // Right after a switch the new profile's frames may overlap what was already sent:
    // skip those, so timestamps only move forward (the gap is at most one frame).
    if (GST_CLOCK_TIME_IS_VALID(f->next_pts) && GST_CLOCK_TIME_IS_VALID(pts) &&
        pts + GST_MSECOND < f->next_pts)
      continue;
    if (f->lite) {
      if (!mapped && !(mapped = gst_buffer_map(buffer, &map, GST_MAP_READ))) return;
      if (batch.size() <= batched) batch.resize(batched + 16);
      int redundancy = std::max(
          {profile_.audio_redundancy, f->probe_redundancy.load(), f->loss_redundancy.load()});
      if (GST_CLOCK_TIME_IS_VALID(pts) &&
          f->lite->pack(map.data, map.size, pts, batch[batched], redundancy)) {
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
