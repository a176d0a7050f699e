// For GoogleTest suites: a class socket that has connected and been authenticated.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "webrtc_peer.hpp"

// Fails the test (but returns the socket) when it does not connect or authenticate.
inline std::unique_ptr<WsClient> connect_authenticated(int port, const std::string &class_id,
                                                       const std::string &token,
                                                       const std::string &who = "") {
  auto ws = std::make_unique<WsClient>(port, class_id, token);
  EXPECT_TRUE(ws->connected()) << ws->error();
  EXPECT_TRUE(ws->wait_for("authenticated", nullptr)) << "no 'authenticated' for " << who;
  return ws;
}
