// tests/gitsync/ssh_server.h — ssh:// for the gitsync tests: a real sshd
// with its own config, host key and authorized_keys in the test's folder, on
// a free loopback port. sshd insists on its privilege-separation folder
// /run/sshd (which its service would create); the server creates it when
// missing, and changes nothing else on the machine.
// Keys made in the folder: host_key, client_key (authorized), other_key (not).
#pragma once

#include <memory>
#include <string>

#include "tests/gitsync/http_server.h"
#include "tests/gitsync/mirror_fixture.h"

namespace bosun::gitsync::test {

class SshServer {
 public:
  explicit SshServer(const TempDir& tmp) : tmp_(tmp), port_(bosun::test::FreePort()) {
    if (RunCommand("test -x /usr/sbin/sshd && command -v ssh-keygen").exit_code != 0) return;
    for (const char* key : {"host_key", "client_key", "other_key"}) {
      if (RunCommand("ssh-keygen -q -t ed25519 -N '' -C bosun-test -f " + tmp.Sub(key)).exit_code != 0) return;
    }
    RunCommand("cp " + tmp.Sub("client_key.pub") + " " + tmp.Sub("authorized_keys"));
    std::string config =
        tmp.Write("sshd_config", "Port " + std::to_string(port_) +
                                     "\nListenAddress 127.0.0.1\n"
                                     "HostKey " +
                                     tmp.Sub("host_key") + "\nAuthorizedKeysFile " + tmp.Sub("authorized_keys") +
                                     "\nPidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                                     "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                                     "PubkeyAuthentication yes\nLogLevel ERROR\n");
    RunCommand("mkdir -p /run/sshd && chmod 755 /run/sshd");
    server_ = std::make_unique<Background>("exec /usr/sbin/sshd -D -e -f " + config);
    up_ = WaitForPort(port_);
  }
  bool up() const { return up_; }
  std::string Url(const std::string& path) const {
    return "ssh://" + User() + "@127.0.0.1:" + std::to_string(port_) + path;
  }
  // A known_hosts line for the server's host key.
  std::string KnownHostsLine(const std::string& key_file = "host_key.pub") const {
    auto pub = RunCommand("cut -d' ' -f1,2 " + tmp_.Sub(key_file));
    return "[127.0.0.1]:" + std::to_string(port_) + " " + Trim(pub.out) + "\n";
  }

 private:
  static std::string User() {
    auto o = RunCommand("id -un");
    return Trim(o.out);
  }
  const TempDir& tmp_;
  int port_;
  std::unique_ptr<Background> server_;
  bool up_ = false;
};

}  // namespace bosun::gitsync::test
