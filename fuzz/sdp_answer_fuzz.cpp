// A listener's SDP answer as the server takes it (signaling "answer" -> media_answer):
//   - the lite transport (the default): LiteSession::set_answer parses it with GStreamer's SDP
//     parser, checks the audio section, the Opus payload type, the ICE credentials, the DTLS
//     fingerprint and role, and builds the listener's DTLS-SRTP session from them; a second
//     answer for the same session is refused;
//   - the webrtcbin transport: the same parser and the one check it makes before handing the
//     message to webrtcbin (WebrtcbinListener::remote_answer).
// Whatever the text, set_answer answers an error with a stable code or accepts it once.
//
// Input: the answer's text.
#include <gst/sdp/sdp.h>

#include <memory>

#include "fuzz_support.hpp"
#include "transport/lite_transport.hpp"

using namespace gramothi;

namespace {

constexpr uint8_t kOpus = 111;

LiteTransport &transport() {
  static std::unique_ptr<LiteTransport> t = [] {
    LiteSettings settings;
    settings.addresses = {"127.0.0.1"};
    auto started = LiteTransport::start(settings);
    FUZZ_CHECK(started);
    return std::move(*started);
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 32 * 1024) return 0;  // the signaling plugin's limit on "sdp"
  std::string text(reinterpret_cast<const char *>(data), size);
  if (text.find('\0') != std::string::npos) return 0;  // a JSON string reaches us NUL-free

  auto session = transport().create(0x1234, kOpus, "fuzz", {});
  auto first = session->set_answer(text);
  if (first) {
    FUZZ_CHECK(first->code == "invalid_sdp" && first->kind == ErrorKind::kInvalid);
  } else {
    auto again = session->set_answer(text);
    FUZZ_CHECK(again && again->code == "unexpected_answer");
  }
  transport().remove(session);

  GstSDPMessage *sdp = nullptr;
  if (!text.empty() && gst_sdp_message_new_from_text(text.c_str(), &sdp) == GST_SDP_OK && sdp &&
      gst_sdp_message_medias_len(sdp) > 0) {
    g_autofree char *back = gst_sdp_message_as_text(sdp);
    FUZZ_CHECK(back);
  }
  if (sdp) gst_sdp_message_free(sdp);
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  transport();
  return 0;
}
