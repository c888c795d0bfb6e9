#pragma once

// One client connection (session.cpp): TLS handshake, then request after request — read the
// head and body, ask the request_handler what to do, forward to the upstream, commit the audit
// entry, write the response. I/O only; every decision is the request_handler's.

#include <boost/asio/awaitable.hpp>

#include "gateway/state.hpp"

namespace dsa::gateway {

// Serves one accepted connection on worker `w` until it closes. Never throws.
net::awaitable<void> run_session(server::impl& g, worker& w, tcp::socket socket);

// Drain: closes the sessions of `w` that wait for their next request; busy ones finish the
// request they are serving. Call on `w`'s thread.
void stop_idle_sessions(worker& w);

}  // namespace dsa::gateway
