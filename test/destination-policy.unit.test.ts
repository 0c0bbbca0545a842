import { describe, expect, it } from "vitest";
import { refuseDestination } from "../src/delivery/destination-policy";

const strict = (url: string) => refuseDestination(url, false);
const insecure = (url: string) => refuseDestination(url, true);

describe("the URL parser's normalisation, which the policy relies on", () => {
  it.each([
    ["https://2130706433/", "127.0.0.1"],
    ["https://0x7f000001/", "127.0.0.1"],
    ["https://0177.0.0.1/", "127.0.0.1"],
    ["https://127.1/", "127.0.0.1"],
    ["https://0x7f.1/", "127.0.0.1"],
    ["https://127.0.0.1./", "127.0.0.1"],
    ["https://0/", "0.0.0.0"],
    ["https://%31%32%37.0.0.1/", "127.0.0.1"],
    ["https://\uff11\uff12\uff17.0.0.1/", "127.0.0.1"],
    ["https://LOCALHOST/", "localhost"],
    ["https://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["https://[0:0:0:0:0:0:0:1]/", "[::1]"],
  ])("%s has host %s", (raw, host) => {
    expect(new URL(raw).hostname).toBe(host);
  });
});

describe("refuseDestination, strict (the default)", () => {
  it.each([
    // schemes
    "http://crm.example.com/hook",
    "ftp://crm.example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "ws://crm.example.com/",
    "wss://crm.example.com/",
    "gopher://crm.example.com/",
    // not a URL
    "",
    "crm.example.com/hook",
    "https://",
    "https://exa mple.com/",
    // user info
    "https://user:pass@crm.example.com/hook",
    "https://user@crm.example.com/hook",
    "https://:pass@crm.example.com/hook",
    "https://good.com@127.0.0.1/",
    "https://crm.example.com:443@evil.example/",
    // loopback
    "https://127.0.0.1/",
    "https://127.255.255.254/",
    "https://localhost/",
    "https://LocalHost:8443/",
    "https://localhost./",
    "https://localhost../",
    "https://api.localhost/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    // other spellings of 127.0.0.1
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0177.0.0.1/",
    "https://0177.1/",
    "https://127.1/",
    "https://127.0.1/",
    "https://127.0.0.1./",
    "https://%31%32%37.0.0.1/",
    "https://\uff11\uff12\uff17.0.0.1/",
    // private, link-local, CGNAT, this-network
    "https://10.0.0.1/",
    "https://10.255.255.255/",
    "https://172.16.0.1/",
    "https://172.31.255.255/",
    "https://192.168.1.1/",
    "https://169.254.0.1/",
    "https://100.64.0.1/",
    "https://100.127.255.255/",
    "https://0.0.0.0/",
    "https://0/",
    "https://0.1.2.3/",
    // multicast, reserved, broadcast, documentation, benchmarking
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://192.0.2.10/",
    "https://198.51.100.7/",
    "https://203.0.113.9/",
    "https://198.18.0.1/",
    "https://192.0.0.8/",
    // cloud metadata
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/",
    "https://instance-data/latest/",
    "https://instance-data.ec2.internal/",
    "https://[fd00:ec2::254]/",
    // local names
    "https://printer.local/",
    "https://router.home.arpa/",
    "https://intranet/",
    "https://db.localdomain/",
    // IPv6 non-public
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[febf::1]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[ff02::1]/",
    "https://[fec0::1]/",
    "https://[2001:db8::1]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "https://[100::1]/",
    // IPv4 inside IPv6
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::127.0.0.1]/",
    "https://[::7f00:1]/",
    "https://[::192.168.0.1]/",
    "https://[64:ff9b::127.0.0.1]/",
    "https://[64:ff9b::a00:1]/",
    "https://[64:ff9b::169.254.169.254]/",
    "https://[2002:7f00:1::]/",
    "https://[2002:c0a8:101::1]/",
  ])("refuses %s", (url) => {
    expect(strict(url)).toEqual(expect.any(String));
  });

  it.each([
    "https://crm.example.com/hook",
    "https://crm.example.com:8443/hook?x=1#frag",
    "https://CRM.Example.COM/hook",
    "https://crm.example.com./hook",
    "https://8.8.8.8/x",
    "https://1.1.1.1:8443/x",
    "https://172.15.255.255/",
    "https://172.32.0.1/",
    "https://100.63.255.255/",
    "https://100.128.0.1/",
    "https://169.253.0.1/",
    "https://11.0.0.1/",
    "https://223.255.255.254/",
    "https://134744072/",
    "https://[2606:4700::1111]/",
    "https://[2606:4700:4700::1111]:8443/x",
    "https://[2001:4860:4860::8888]/",
    "https://[::ffff:8.8.8.8]/",
    "https://[64:ff9b::8.8.8.8]/",
    "https://[2002:808:808::1]/",
    "https://hooks.crm-vendor.co.th/airudder",
    "https://xn--bcher-kva.example/",
    "https://localhost.example.com/",
    "https://metadata.example.com/",
  ])("allows %s", (url) => {
    expect(strict(url)).toBeNull();
  });

  it("says why, naming the normalised host", () => {
    expect(strict("https://2130706433/")).toBe("127.0.0.1 is a loopback address");
    expect(strict("https://[::ffff:127.0.0.1]/")).toBe("[::ffff:7f00:1] is an IPv4-mapped address of 127.0.0.1, a loopback address");
    expect(strict("http://crm.example.com/")).toBe("only https URLs are allowed");
    expect(strict("https://a:b@crm.example.com/")).toBe("URLs with user info are not allowed");
    expect(strict("nope")).toBe("not a valid URL");
  });
});

describe("refuseDestination, with insecure destinations allowed", () => {
  it.each([
    "http://127.0.0.1:8787/hook",
    "http://localhost:3000/",
    "https://localhost/",
    "http://10.0.0.5/hook",
    "http://192.168.1.20:8080/",
    "http://[::1]:9000/",
    "http://crm.example.com/hook",
    "https://crm.example.com/hook",
  ])("allows %s", (url) => {
    expect(insecure(url)).toBeNull();
  });

  it.each([
    "ftp://127.0.0.1/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "ws://localhost/",
    "http://user:pass@127.0.0.1/",
    "http://good.com@127.0.0.1/",
    "https://token@crm.example.com/",
    "not a url",
  ])("still refuses %s", (url) => {
    expect(insecure(url)).toEqual(expect.any(String));
  });
});
