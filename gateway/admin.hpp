#pragma once

// The admin listener's accept loop (admin.cpp): /healthz, /readyz, /agreements, /metrics.

#include <boost/asio/awaitable.hpp>

#include "gateway/state.hpp"

namespace dsa::gateway {

// Accepts admin connections on g.admin until it is closed; one coroutine per connection.
net::awaitable<void> admin_loop(server::impl& g);

}  // namespace dsa::gateway
