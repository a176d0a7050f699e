#include "media/peer.hpp"

#include "base/main_loop.hpp"

namespace gramothi {

void with_peer(const Peer::Ref &ref, std::function<void(Peer &)> fn) {
  run_on_main([ref, fn = std::move(fn)] {
    if (!ref.watch.alive()) return;
    if (Peer *p = ref.host->find(ref.id)) fn(*p);
  });
}

}  // namespace gramothi
