#include "media/media_pipelines.hpp"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include "common/temp_dir.hpp"

using namespace gramothi;

namespace {

ProfileSet default_profiles() {
  auto r =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  EXPECT_TRUE(r.ok());
  return std::move(*r);
}

const char *kGood =
    "[ingest]\ndecode=rtpopusdepay ! opusdec\n"
    "[encoder]\nencode=audioconvert ! opusenc bitrate=${bitrate_bps} frame-size=${frame_ms} "
    "packet-loss-percentage=${loss_pct}\n"
    "[listener]\npay=rtpopuspay pt=${pt} ssrc=${ssrc}\n";

TEST(MediaPipelines, TheShippedDescriptionsLoadForEveryProfile) {
  ProfileSet profiles = default_profiles();
  auto m = MediaPipelines::load(
      std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/media.ini", profiles);
  ASSERT_TRUE(m.ok()) << m.error().message;
  std::string ultra = m->encoder(*profiles.find("ultra-low"));
  EXPECT_NE(ultra.find("bitrate=32000"), std::string::npos) << ultra;
  EXPECT_NE(ultra.find("frame-size=60"), std::string::npos) << ultra;
  EXPECT_NE(ultra.find("audio-type=voice"), std::string::npos) << ultra;
  EXPECT_NE(ultra.find("inband-fec=true"), std::string::npos) << ultra;
  EXPECT_NE(m->encoder(*profiles.find("low")).find("frame-size=40"), std::string::npos);
  EXPECT_NE(m->encoder(*profiles.find("high")).find("frame-size=20"), std::string::npos);
  EXPECT_NE(m->payloader(111, 42).find("ssrc=42"), std::string::npos);
}

TEST(MediaPipelines, PlaceholdersExpandAndUnknownOnesStay) {
  EXPECT_EQ(MediaPipelines::expand("a=${x} b=${y} c=${", {{"x", "1"}}), "a=1 b=${y} c=${");
}

TEST(MediaPipelines, ABrokenDescriptionNamesTheFileLineAndKey) {
  TempDir dir;
  ProfileSet profiles = default_profiles();
  ASSERT_TRUE(MediaPipelines::load(dir.file("ok.ini", kGood), profiles).ok());

  std::string bad = kGood;
  bad.replace(bad.find("opusdec"), 7, "opusdecc");
  auto r = MediaPipelines::load(dir.file("bad.ini", bad), profiles);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bad.ini:2: [ingest] decode"), std::string::npos)
      << r.error().message;

  std::string bad_prop = kGood;
  bad_prop.replace(bad_prop.find("bitrate=${bitrate_bps}"), 22, "bitrate=loud");
  r = MediaPipelines::load(dir.file("prop.ini", bad_prop), profiles);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("prop.ini:4: [encoder] encode (profile 2g)"), std::string::npos)
      << r.error().message;

  r = MediaPipelines::load(dir.file("unknown.ini", std::string(kGood) + "[mixer]\nx=1\n"),
                           profiles);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("[mixer]: unknown group"), std::string::npos);

  r = MediaPipelines::load(dir.file("missing.ini", "[ingest]\ndecode=opusdec\n"), profiles);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("[encoder] encode: missing"), std::string::npos);
}

}  // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  gst_deinit();  // releases GStreamer's registry and caches, so LeakSanitizer sees only ours
  return rc;
}
