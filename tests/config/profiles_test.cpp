#include "config/profiles.hpp"

#include <gtest/gtest.h>

#include "common/temp_dir.hpp"

using namespace gramothi;

// The original module's four profiles, unchanged, above the 2g profile (issue 14).
TEST(Profiles, ShippedFileHasThe2gProfileAndTheFourOriginalOnesInLinkOrder) {
  auto r =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->all().size(), 5u);
  const char *names[] = {"2g", "ultra-low", "low", "medium", "high"};
  int kbps[] = {10, 32, 64, 128, 192};
  int widths[] = {480, 800, 1024, 1280, 1920};
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(r->all()[i].name, names[i]);
    EXPECT_EQ(r->all()[i].audio_bitrate_kbps, kbps[i]);
    EXPECT_EQ(r->all()[i].slide_width, widths[i]);
  }
  EXPECT_EQ(r->find("ultra-low")->opus_frame_ms, 60);
  EXPECT_EQ(r->find("2g")->opus_frame_ms, 60);
  EXPECT_LE(r->find("2g")->audio_bitrate_kbps, 16);
  // RED on 2g only (measured: it halves concealment at 5 % loss); absent means none.
  EXPECT_EQ(r->find("2g")->audio_redundancy, 1);
  EXPECT_EQ(r->find("ultra-low")->audio_redundancy, 0);
  EXPECT_TRUE(r->is_valid_choice("auto"));
  EXPECT_TRUE(r->is_valid_choice("medium"));
  EXPECT_FALSE(r->is_valid_choice("ultra"));
}

TEST(Profiles, OperatorCanAddAProfile) {
  TempDir dir;
  auto r = ProfileSet::load(dir.file("p.ini",
                                     "[profile edge-2g]\naudio_bitrate_kbps=16\nlink_min_kbps=0\n"
                                     "opus_frame_ms=60\nopus_loss_pct=25\nslide_width=640\n"
                                     "slide_height=480\n"
                                     "[profile low]\naudio_bitrate_kbps=64\nlink_min_kbps=32\n"
                                     "opus_frame_ms=40\nopus_loss_pct=10\nslide_width=1024\n"
                                     "slide_height=768\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->all()[0].name, "edge-2g");
  EXPECT_EQ(r->names_joined(), "auto, edge-2g, low");
  EXPECT_EQ(r->all()[0].audio_redundancy, 0);
}

// Clients learn each profile's frame duration from /config: the class page times its queue
// watch by it.
TEST(Profiles, TheClientConfigNamesEachProfilesFrameDuration) {
  auto r =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string json = r->to_json();
  EXPECT_NE(json.find("\"name\":\"2g\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"opus_frame_ms\":60"), std::string::npos) << json;
  EXPECT_NE(json.find("\"opus_frame_ms\":20"), std::string::npos) << json;
}

// Issue 14: a listener's slide images go at what its link leaves beside its audio.
TEST(Profiles, ImagesArePacedToWhatTheLinkLeavesBesideTheAudio) {
  auto r =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  ASSERT_TRUE(r.ok()) << r.error().message;
  size_t last = 0;
  for (size_t i = 0; i + 1 < r->all().size(); i++) {
    const auto &p = r->all()[i];
    size_t pace = r->image_pace_bytes_per_s(p.name);
    EXPECT_GT(pace, last) << p.name;
    // Audio (at least its bitrate, repeated for RED) plus images stay under the next profile's
    // link rate: the listener is on this profile because its link is below that.
    double audio_kbps = p.audio_bitrate_kbps * (1 + p.audio_redundancy);
    EXPECT_LT(audio_kbps + pace * 8 / 1000.0, r->all()[i + 1].link_min_kbps) << p.name;
    last = pace;
  }
  // 2g: a 10 KB image in under 10 s.
  EXPECT_GE(r->image_pace_bytes_per_s("2g"), 1024u);
  EXPECT_EQ(r->image_pace_bytes_per_s("high"), 0u);  // the top: no pacing
  EXPECT_EQ(r->image_pace_bytes_per_s("nope"), 0u);
}

TEST(Profiles, AudioRedundancyIsZeroToTwo) {
  TempDir dir;
  std::string base =
      "[profile low]\naudio_bitrate_kbps=64\nlink_min_kbps=0\nopus_frame_ms=40\n"
      "opus_loss_pct=10\nslide_width=1024\nslide_height=768\n";
  auto r = ProfileSet::load(dir.file("a.ini", base + "audio_redundancy=2\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->all()[0].audio_redundancy, 2);
  r = ProfileSet::load(dir.file("b.ini", base + "audio_redundancy=3\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("[profile low] audio_redundancy: '3'"), std::string::npos)
      << r.error().message;
}

// Issue 14: the slowest profiles show a tiny preview of each slide before its image.
TEST(Profiles, SlidePreviewIsOnForTheSlowestProfilesAndIsTrueOrFalse) {
  auto shipped =
      ProfileSet::load(std::string(g_getenv("GRAMOTHI_SOURCE_ROOT")) + "/pipelines/profiles.ini");
  ASSERT_TRUE(shipped.ok()) << shipped.error().message;
  EXPECT_TRUE(shipped->find("2g")->slide_preview);
  EXPECT_TRUE(shipped->find("ultra-low")->slide_preview);
  EXPECT_FALSE(shipped->find("low")->slide_preview);
  EXPECT_FALSE(shipped->find("high")->slide_preview);
  EXPECT_NE(shipped->to_json().find("\"slide_preview\":true"), std::string::npos);

  TempDir dir;
  std::string base =
      "[profile low]\naudio_bitrate_kbps=64\nlink_min_kbps=0\nopus_frame_ms=40\n"
      "opus_loss_pct=10\nslide_width=1024\nslide_height=768\n";
  auto r = ProfileSet::load(dir.file("a.ini", base));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->all()[0].slide_preview);  // absent: off
  r = ProfileSet::load(dir.file("b.ini", base + "slide_preview = true\n"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->all()[0].slide_preview);
  r = ProfileSet::load(dir.file("c.ini", base + "slide_preview=yes\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("[profile low] slide_preview: 'yes' is not true or false"),
            std::string::npos)
      << r.error().message;
}

TEST(Profiles, ErrorsNameTheGroupAndKey) {
  TempDir dir;
  auto r = ProfileSet::load(dir.file("p.ini",
                                     "[profile low]\naudio_bitrate_kbps=lots\nlink_min_kbps=0\n"
                                     "opus_frame_ms=40\nopus_loss_pct=10\nslide_width=1024\n"
                                     "slide_height=768\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("[profile low] audio_bitrate_kbps: 'lots'"), std::string::npos)
      << r.error().message;

  r = ProfileSet::load(dir.file("q.ini", "[profile auto]\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a profile name"), std::string::npos);

  r = ProfileSet::load(dir.file("m.ini", "[profile low]\naudio_bitrate_kbps=64\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("link_min_kbps: missing"), std::string::npos);
}
