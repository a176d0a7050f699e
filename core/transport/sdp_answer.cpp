#include "transport/sdp_answer.hpp"

#include <glib.h>
#include <gst/sdp/sdp.h>

#include <memory>

namespace gramothi {
namespace {

Error invalid(const std::string &why) {
  return Error{ErrorKind::kInvalid, "invalid_sdp", why};
}

// The attribute `key` of the media, else of the session; "" if absent.
std::string attribute(const GstSDPMessage *sdp, const GstSDPMedia *m, const char *key) {
  const char *v = gst_sdp_media_get_attribute_val(m, key);
  if (!v) v = gst_sdp_message_get_attribute_val(sdp, key);
  return v ? v : "";
}

bool has_attribute(const GstSDPMessage *sdp, const GstSDPMedia *m, const char *key) {
  return gst_sdp_media_get_attribute_val(m, key) || gst_sdp_message_get_attribute_val(sdp, key);
}

// RFC 8839 §5.4: ufrag 4..256 characters, pwd 22..256. Printable ASCII without spaces is
// accepted (ice-char is narrower); a ':' would split the STUN USERNAME.
bool ice_text_ok(const std::string &s, size_t min_len, bool allow_colon) {
  if (s.size() < min_len || s.size() > 256) return false;
  for (char ch : s)
    if (ch <= ' ' || ch > '~' || (!allow_colon && ch == ':')) return false;
  return true;
}

// "sha-256 AB:CD:..." with as many hex pairs as the hash has bytes.
bool fingerprint_ok(const std::string &f) {
  auto space = f.find(' ');
  if (space == std::string::npos) return false;
  std::string algo = f.substr(0, space), hex = f.substr(space + 1);
  size_t bytes = 0;
  if (g_ascii_strcasecmp(algo.c_str(), "sha-1") == 0)
    bytes = 20;
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-256") == 0)
    bytes = 32;
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-384") == 0)
    bytes = 48;
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-512") == 0)
    bytes = 64;
  if (!bytes || hex.size() != bytes * 3 - 1) return false;
  for (size_t i = 0; i < hex.size(); i++) {
    bool colon_place = i % 3 == 2;
    if (colon_place ? hex[i] != ':' : !g_ascii_isxdigit(hex[i])) return false;
  }
  return true;
}

}  // namespace

Result<ListenerAnswer> parse_listener_answer(std::string_view text, unsigned payload_type,
                                             unsigned red_payload_type) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return invalid("The answer is empty; send the SDP of the answer to the offer.");
  if (text.size() > kMaxAnswerBytes)
    return invalid("The answer is longer than " + std::to_string(kMaxAnswerBytes) + " bytes.");
  for (char ch : text)
    if (ch == '\0') return invalid("The answer is not SDP text (it contains a NUL byte).");
  if (text.substr(0, 4) != "v=0\r" && text.substr(0, 4) != "v=0\n")
    return invalid("The answer is not SDP: it must start with the line v=0.");

  GstSDPMessage *raw = nullptr;
  if (gst_sdp_message_new(&raw) != GST_SDP_OK) return invalid("The answer cannot be read.");
  std::unique_ptr<GstSDPMessage, decltype(&gst_sdp_message_free)> sdp(raw, gst_sdp_message_free);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8 *>(text.data()),
                                   static_cast<guint>(text.size()), raw) != GST_SDP_OK)
    return invalid("The answer is not a usable SDP.");
  if (gst_sdp_message_medias_len(raw) != 1)
    return invalid(gst_sdp_message_medias_len(raw) == 0
                       ? "The answer has no media (m=audio line)."
                       : "The answer must have one m-line, as the offer has.");
  const GstSDPMedia *m = gst_sdp_message_get_media(raw, 0);
  if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0)
    return invalid("The answer's m-line is not audio.");
  if (gst_sdp_media_get_port(m) == 0) return invalid("The answer rejects the audio (port 0).");
  const char *proto = gst_sdp_media_get_proto(m);
  if (!proto || !g_str_has_suffix(proto, "RTP/SAVPF"))
    return invalid("The answer's audio is not DTLS-SRTP (UDP/TLS/RTP/SAVPF).");
  if (gst_sdp_media_get_attribute_val(m, "inactive") ||
      gst_sdp_media_get_attribute_val(m, "sendonly"))
    return invalid("The answer does not receive the audio (a=recvonly expected).");
  bool has_pt = false, has_red = false;
  std::string pt = std::to_string(payload_type), red = std::to_string(red_payload_type);
  for (guint i = 0; i < gst_sdp_media_formats_len(m); i++) {
    if (pt == gst_sdp_media_get_format(m, i)) has_pt = true;
    if (red_payload_type && red == gst_sdp_media_get_format(m, i)) has_red = true;
  }
  if (!has_pt) return invalid("The answer does not accept Opus (payload type " + pt + ").");

  ListenerAnswer a;
  if (has_red) {
    std::string want = red + " red/48000/2";
    for (guint i = 0; i < gst_sdp_media_attributes_len(m); i++) {
      const GstSDPAttribute *at = gst_sdp_media_get_attribute(m, i);
      if (g_strcmp0(at->key, "rtpmap") == 0 && at->value &&
          g_ascii_strcasecmp(at->value, want.c_str()) == 0)
        a.red = true;
    }
  }
  a.ice_ufrag = attribute(raw, m, "ice-ufrag");
  a.ice_pwd = attribute(raw, m, "ice-pwd");
  if (a.ice_ufrag.empty() || a.ice_pwd.empty())
    return invalid("The answer has no ICE credentials (a=ice-ufrag, a=ice-pwd).");
  if (!ice_text_ok(a.ice_ufrag, 4, false) || !ice_text_ok(a.ice_pwd, 22, true))
    return invalid(
        "The answer's ICE credentials are malformed (ufrag 4-256 and pwd 22-256 characters).");
  a.fingerprint = attribute(raw, m, "fingerprint");
  if (a.fingerprint.empty()) return invalid("The answer has no DTLS fingerprint (a=fingerprint).");
  if (!fingerprint_ok(a.fingerprint))
    return invalid(
        "The answer's a=fingerprint is malformed or uses a hash other than sha-1, sha-256, "
        "sha-384 or sha-512.");
  a.setup = attribute(raw, m, "setup");
  if (has_attribute(raw, m, "setup") && a.setup != "active" && a.setup != "passive" &&
      a.setup != "actpass")
    return invalid(a.setup == "holdconn" ? "The answer holds the connection (a=setup:holdconn)."
                                         : "The answer's a=setup must be active or passive.");
  return a;
}

}  // namespace gramothi
