# SPDX-License-Identifier: Apache-2.0
# Fails when a public name is missing from the API reference: every name of
# docs/reference-names.txt must have a page (class, struct, namespace) or an
# entry on a page (member, free function, macro) of the HTML reference.
# Doxygen's XML index (GENERATE_XML) maps names to pages and anchors; it
# lists names whose page was never generated too (e.g. the members of an
# undocumented namespace), so the HTML is what decides.
# Run by the `docs` target after Doxygen; by hand:
#
#   cmake -DDOCS=build/docs -DNAMES=docs/reference-names.txt \
#         -P docs/check_reference.cmake

cmake_minimum_required(VERSION 3.25)

set(_index "${DOCS}/xml/index.xml")
if(NOT EXISTS "${_index}" OR NOT IS_DIRECTORY "${DOCS}/html" OR NOT EXISTS "${NAMES}")
  message(FATAL_ERROR "check_reference.cmake: needs -DDOCS=<dir with html/ and xml/index.xml> "
                      "and -DNAMES=<list> (got DOCS='${DOCS}', NAMES='${NAMES}')")
endif()

# Known names: "scope" for a compound (class, struct, namespace, file) with a
# page, "scope::member" for a member with an anchor on that page, "#MACRO"
# for a macro (a member of a file). The index is cut into one item per
# compound.
file(READ "${_index}" _xml)
string(REPLACE ";" "\\;" _xml "${_xml}")
string(REPLACE "<compound " ";<compound " _xml "${_xml}")
set(_known "")
foreach(_compound IN LISTS _xml)
  if(NOT _compound MATCHES "^<compound refid=\"([^\"]+)\" kind=\"[a-z]+\"><name>([^<]+)</name>")
    continue()
  endif()
  set(_page "${DOCS}/html/${CMAKE_MATCH_1}.html")
  set(_scope "${CMAKE_MATCH_2}")
  if(NOT EXISTS "${_page}")
    continue()
  endif()
  file(READ "${_page}" _html)
  string(REGEX REPLACE "&lt;.*$" "" _scope "${_scope}")  # TypeName&lt; T &gt; -> TypeName
  list(APPEND _known "${_scope}")
  string(REGEX MATCHALL "<member refid=\"[^\"]+\" kind=\"[a-z]+\"><name>[^<]+</name>"
         _members "${_compound}")
  foreach(_member IN LISTS _members)
    string(REGEX MATCH "refid=\"[^\"]+_1([^\"_]+)\" kind=\"([a-z]+)\"><name>([^<]+)</name>" _
           "${_member}")
    string(FIND "${_html}" "id=\"${CMAKE_MATCH_1}\"" _at)
    if(_at EQUAL -1)
      continue()
    endif()
    if(CMAKE_MATCH_2 STREQUAL "define")
      list(APPEND _known "#${CMAKE_MATCH_3}")
    else()
      list(APPEND _known "${_scope}::${CMAKE_MATCH_3}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _known)

file(STRINGS "${NAMES}" _names REGEX "^[^#]")
set(_missing "")
set(_count 0)
foreach(_name IN LISTS _names)
  string(STRIP "${_name}" _name)
  if(_name STREQUAL "")
    continue()
  endif()
  math(EXPR _count "${_count} + 1")
  if(_name MATCHES "::")
    set(_wanted "${_name}")
  else()
    set(_wanted "#${_name}")
  endif()
  if(NOT _wanted IN_LIST _known)
    list(APPEND _missing "${_name}")
  endif()
endforeach()
if(_missing)
  list(JOIN _missing "\n  " _missing)
  message(FATAL_ERROR "API reference in ${DOCS}/html is missing public names listed in ${NAMES}:\n"
                      "  ${_missing}\n"
                      "Document each one (/// on the entity; \\file on its header), or fix the list.")
endif()
message(STATUS "API reference: all ${_count} public names of ${NAMES} are documented")
