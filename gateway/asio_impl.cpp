// The one translation unit that compiles Asio, Asio.SSL and Beast (separate compilation):
// every other gateway file includes their headers only, which keeps builds on this 2-core
// machine tolerable.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
