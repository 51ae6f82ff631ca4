#pragma once
/// Pure reads and edits of kubeconfig YAML (the format `kind get kubeconfig` prints). No I/O; no
/// exceptions: yaml-cpp's are caught here and returned as `Error`.
///
/// Error messages name the file section and entry (`kubeconfig: no cluster entry "kind-x"`) and
/// never contain key or certificate material.

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace k8sinpod::kubeconfig {

/// Returns `kubeconfig_yaml` with `server` of the `clusters[]` entry named `cluster_entry` (kind
/// names it `kind-<cluster name>`) set to `server_url`; the key is added if missing.
/// Everything else is kept with the same meaning: entry and key order, all other values, and the
/// quoting of quoted scalars (a quoted "true" stays a string). Not kept: comments, anchors (aliases
/// are expanded) and the exact layout. The result ends with a newline.
/// Errors: not YAML, top level not a map, no `clusters` list, no or several entries of that name,
/// entry without a `cluster` map.
Result<std::string> set_server(std::string_view kubeconfig_yaml, std::string_view cluster_entry,
                               std::string_view server_url);

/// The `server` of the `clusters[]` entry named `cluster_entry`.
/// Errors: as `set_server`, plus a missing or non-scalar `server`.
Result<std::string> server_of(std::string_view kubeconfig_yaml, std::string_view cluster_entry);

/// What a client needs to talk to the API server with the kubeconfig's client certificate.
struct Credentials {
  std::string server;
  std::string ca_pem;           ///< decoded certificate-authority-data
  std::string client_cert_pem;  ///< decoded client-certificate-data
  std::string client_key_pem;   ///< decoded client-key-data
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

/// Resolves `context_name` (empty: `current-context`) to its cluster and user entries and decodes
/// their `certificate-authority-data`, `client-certificate-data` and `client-key-data`.
/// Only the inline `*-data` forms are supported: when one is missing, the error says whether the
/// file form (`certificate-authority`, `client-certificate`, `client-key`) is present instead.
/// Errors: not YAML, unknown context/cluster/user, missing fields, invalid base64.
Result<Credentials> read_credentials(std::string_view kubeconfig_yaml,
                                     std::string_view context_name);

/// Standard base64 (RFC 4648 alphabet with `+` `/`, `=` padding required), as Go's
/// `base64.StdEncoding` decodes kubeconfig `[]byte` fields: `\r` and `\n` are skipped, any other
/// character outside the alphabet, a length that is not a multiple of 4, or misplaced padding is
/// an error. The error names the offset, never the data.
Result<std::string> decode_base64(std::string_view text);

}  // namespace k8sinpod::kubeconfig
