# Install layout and the Debian package (CPack DEB). Included at the end of the top-level
# CMakeLists.txt.
#
#   <prefix>/bin/dsa, dsa-gateway, dsa-bench
#   <prefix>/share/doc/dsa-gateway/        README, operations, agreements guide, dev PKI notes
#   <prefix>/share/dsa-gateway/            make-dev-pki.sh, sample_upstream.py + upstream-fixtures/
#   <etc>/dsa-gateway/gateway.yaml         production example config (a dpkg conffile)
#   <etc>/dsa-gateway/agreements/          example agreements (*.yaml, no *.test.yaml) + schema
#   <var>/lib/dsa-gateway/                 empty state dir (audit store, signing key)
#   <unit>/dsa-gateway.service             hardened systemd unit
#
# <etc>, <var> and <unit> follow GNUInstallDirs' rule for system prefixes, applied when the
# install runs (not when CMake configures): with CMAKE_INSTALL_PREFIX "/usr" or "/" they are
# /etc, /var and /lib/systemd/system; any other prefix gets <prefix>/etc, <prefix>/var and
# <prefix>/lib/systemd/system. Deciding at install time matters because CPack installs with
# prefix /usr whatever prefix the build tree was configured with (tools/test.sh uses the
# default /usr/local), so the .deb always holds /etc/dsa-gateway and /var/lib/dsa-gateway.
# An absolute CMAKE_INSTALL_SYSCONFDIR / CMAKE_INSTALL_LOCALSTATEDIR is used as given.
# For a non-system prefix the unit and the config are rewritten to that prefix's paths.
#
# Build the package:  cpack --config build/CPackConfig.cmake -G DEB   (from any directory)

include(GNUInstallDirs)

set(DSA_PKG_NAME dsa-gateway)
set(DSA_PKG_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/${DSA_PKG_NAME})
set(DSA_PKG_DATADIR ${CMAKE_INSTALL_DATAROOTDIR}/${DSA_PKG_NAME})

# --- Binaries --------------------------------------------------------------------------------
install(TARGETS dsa dsa-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET dsa-gateway)
  install(TARGETS dsa-gateway RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
else()
  message(WARNING "dsa-gateway target missing: it will not be installed or packaged")
endif()

# --- Documentation ---------------------------------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/agreements.md ${PROJECT_SOURCE_DIR}/docs/gateway.md
        DESTINATION ${DSA_PKG_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/certs/README.md DESTINATION ${DSA_PKG_DOCDIR}
        RENAME dev-pki.md)
# Debian policy files (lintian-clean): the copyright file, the changelog and the manual pages
# compressed with gzip -9n (no timestamp), and the override for the 0750 state directory.
set(dsa_gz ${PROJECT_BINARY_DIR}/packaging-gz)
file(MAKE_DIRECTORY ${dsa_gz})
foreach(dsa_src changelog man/dsa-gateway.8 man/dsa.1 man/dsa-bench.1)
  get_filename_component(dsa_name ${dsa_src} NAME)
  execute_process(COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/${dsa_src}
                  OUTPUT_FILE ${dsa_gz}/${dsa_name}.gz COMMAND_ERROR_IS_FATAL ANY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${PROJECT_SOURCE_DIR}/packaging/${dsa_src})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/copyright ${dsa_gz}/changelog.gz
        DESTINATION ${DSA_PKG_DOCDIR})
install(FILES ${dsa_gz}/dsa-gateway.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${dsa_gz}/dsa.1.gz ${dsa_gz}/dsa-bench.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME ${DSA_PKG_NAME})

# --- Trying it out: dev PKI and the sample upstream ------------------------------------------
install(PROGRAMS ${PROJECT_SOURCE_DIR}/certs/make-dev-pki.sh
                 ${PROJECT_SOURCE_DIR}/tools/sample_upstream.py
        DESTINATION ${DSA_PKG_DATADIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/tools/upstream-fixtures DESTINATION ${DSA_PKG_DATADIR})

# --- /etc, /var/lib and the systemd unit (paths decided at install time, see above) ----------
file(GLOB dsa_example_agreements CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/agreements/*.yaml)
list(FILTER dsa_example_agreements EXCLUDE REGEX "\\.test\\.yaml$")
list(SORT dsa_example_agreements)
set(dsa_agreement_files ${dsa_example_agreements}
    ${PROJECT_SOURCE_DIR}/agreements/agreement.schema.json)

# An empty directory to install as the state directory.
set(dsa_empty_state ${PROJECT_BINARY_DIR}/packaging-stage/${DSA_PKG_NAME})
file(MAKE_DIRECTORY ${dsa_empty_state})

set(DSA_SYSCONFDIR_SETTING "${CMAKE_INSTALL_SYSCONFDIR}")
set(DSA_LOCALSTATEDIR_SETTING "${CMAKE_INSTALL_LOCALSTATEDIR}")
set(DSA_SRC "${PROJECT_SOURCE_DIR}")
set(DSA_STAGE "${PROJECT_BINARY_DIR}/packaging-stage")
string(REPLACE ";" "\" \"" DSA_AGREEMENT_FILES "${dsa_agreement_files}")
string(CONFIGURE [==[
  # dsa-gateway: system file locations for this install prefix.
  set(_dsa_prefix "${CMAKE_INSTALL_PREFIX}")
  string(REGEX REPLACE "/+$" "" _dsa_prefix_trimmed "${_dsa_prefix}")
  if(_dsa_prefix_trimmed STREQUAL "" OR _dsa_prefix_trimmed STREQUAL "/usr")
    set(_dsa_system TRUE)
    set(_dsa_root "")
  else()
    set(_dsa_system FALSE)
    set(_dsa_root "${_dsa_prefix_trimmed}")
  endif()
  if(IS_ABSOLUTE "@DSA_SYSCONFDIR_SETTING@")
    set(_dsa_etc "@DSA_SYSCONFDIR_SETTING@")
  else()
    set(_dsa_etc "${_dsa_root}/@DSA_SYSCONFDIR_SETTING@")
  endif()
  if(IS_ABSOLUTE "@DSA_LOCALSTATEDIR_SETTING@")
    set(_dsa_var "@DSA_LOCALSTATEDIR_SETTING@")
  else()
    set(_dsa_var "${_dsa_root}/@DSA_LOCALSTATEDIR_SETTING@")
  endif()
  set(_dsa_unitdir "${_dsa_root}/lib/systemd/system")
  set(_dsa_bindir "${_dsa_prefix_trimmed}/@CMAKE_INSTALL_BINDIR@")

  # The config and the unit name /usr/bin, /etc/dsa-gateway and /var/lib/dsa-gateway; rewrite
  # them when installing anywhere else.
  foreach(_dsa_file gateway.yaml dsa-gateway.service)
    file(READ "@DSA_SRC@/packaging/${_dsa_file}" _dsa_text)
    string(REPLACE "/usr/bin/dsa-gateway" "${_dsa_bindir}/dsa-gateway" _dsa_text "${_dsa_text}")
    string(REPLACE "/etc/dsa-gateway" "${_dsa_etc}/dsa-gateway" _dsa_text "${_dsa_text}")
    string(REPLACE "/var/lib/dsa-gateway" "${_dsa_var}/lib/dsa-gateway" _dsa_text "${_dsa_text}")
    if(NOT _dsa_var STREQUAL "/var")
      # StateDirectory= is always relative to /var/lib.
      string(REPLACE "StateDirectory=dsa-gateway\n" "" _dsa_text "${_dsa_text}")
      string(REPLACE "StateDirectoryMode=0750\n" "" _dsa_text "${_dsa_text}")
    endif()
    file(WRITE "@DSA_STAGE@/${_dsa_file}" "${_dsa_text}")
  endforeach()

  file(INSTALL DESTINATION "${_dsa_etc}/dsa-gateway" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "@DSA_STAGE@/gateway.yaml")
  file(INSTALL DESTINATION "${_dsa_etc}/dsa-gateway/agreements" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "@DSA_AGREEMENT_FILES@")
  file(INSTALL DESTINATION "${_dsa_var}/lib" TYPE DIRECTORY
       DIR_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
       FILES "@DSA_STAGE@/dsa-gateway")
  file(INSTALL DESTINATION "${_dsa_unitdir}" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "@DSA_STAGE@/dsa-gateway.service")
]==] dsa_install_system_files @ONLY)
install(CODE "${dsa_install_system_files}")

# --- Debian package (CPack DEB) --------------------------------------------------------------
# The maintainer scripts and the conffiles list go into the control archive. Every file the
# package ships under /etc is a conffile, so dpkg keeps local edits (and deletions: remove the
# example agreements once and an upgrade will not bring them back).
set(dsa_conffiles "/etc/dsa-gateway/gateway.yaml\n")
foreach(f ${dsa_agreement_files})
  get_filename_component(name ${f} NAME)
  string(APPEND dsa_conffiles "/etc/dsa-gateway/agreements/${name}\n")
endforeach()
file(WRITE ${PROJECT_BINARY_DIR}/packaging-control/conffiles "${dsa_conffiles}")
foreach(script postinst prerm postrm)
  file(COPY ${PROJECT_SOURCE_DIR}/packaging/debian/${script}
       DESTINATION ${PROJECT_BINARY_DIR}/packaging-control
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
             ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
             ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${DSA_PKG_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "DSA Gateway project")
# One maintainer everywhere: the control file, packaging/changelog and packaging/copyright
# (the packaging test checks they agree).
set(DSA_PKG_MAINTAINER "DSA Gateway maintainers <dsa-gateway-maintainers@example.org>")
set(CPACK_PACKAGE_CONTACT "${DSA_PKG_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DSA_PKG_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "mTLS reverse proxy enforcing machine-readable data sharing agreements")
# Extended description lines stay under 80 columns (lintian).
set(CPACK_PACKAGE_DESCRIPTION
    "DSA Gateway runs at an agency's network edge. Partner agencies' systems
call it with client certificates; it checks every request against Data
Sharing Agreements written in YAML, passes what an agreement permits on to
the agency's own system, strips each response to what the agreement lets
leave, and records every decision in an append-only, tamper-evident audit
store before a byte is released. Includes the dsa tool (lint, explain,
test, render, audit) and dsa-bench.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_NAME ${DSA_PKG_NAME})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "openssl, python3, sqlite3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/packaging-control/conffiles
    ${PROJECT_BINARY_DIR}/packaging-control/postinst
    ${PROJECT_BINARY_DIR}/packaging-control/prerm
    ${PROJECT_BINARY_DIR}/packaging-control/postrm)
# Only what the build installs goes into the package; source packages are not produced.
set(CPACK_SOURCE_GENERATOR "")
include(CPack)

# --- Packaging test --------------------------------------------------------------------------
if(BUILD_TESTING)
  add_subdirectory(${PROJECT_SOURCE_DIR}/packaging ${PROJECT_BINARY_DIR}/packaging)
endif()
