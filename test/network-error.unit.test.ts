import { describe, expect, it } from "vitest";
import { cloudflareOriginError, describeNetworkError } from "../src/delivery/network-error";

// The messages are workerd's, as observed (see network-error.ts). DNS is
// tested here rather than against a real name: even `.invalid` would ask the
// machine's resolver.
const opaque = "internal error; reference = 44as4nn4nktvtkluk4qdep1a";
const lost = "Network connection lost.";

describe("describeNetworkError", () => {
  it("reads an opaque failure to a name that cannot be connected to as a DNS failure", () => {
    expect(describeNetworkError(opaque, new URL("https://crm.example.com/hooks/airudder"), "failed")).toBe(
      `DNS lookup failed for crm.example.com (workerd: ${opaque})`,
    );
    expect(describeNetworkError(opaque, new URL("https://nothing.invalid/"), "failed")).toMatch(/^DNS lookup failed for nothing\.invalid /);
  });

  it("never calls an IP address a DNS failure", () => {
    expect(describeNetworkError(opaque, new URL("https://203.0.113.7/"), "failed")).toBe(`could not connect to 203.0.113.7:443 (workerd: ${opaque})`);
    expect(describeNetworkError(opaque, new URL("https://[2001:db8::1]:8443/"), "failed")).toMatch(/^could not connect to \[2001:db8::1\]:8443 /);
  });

  it("reads an opaque failure after a connection as TLS for https only", () => {
    expect(describeNetworkError(opaque, new URL("https://crm.example.com/"), "open")).toBe(`TLS handshake with crm.example.com:443 failed (workerd: ${opaque})`);
    expect(describeNetworkError(opaque, new URL("http://crm.example.com:8080/"), "open")).toBe(
      `request to crm.example.com:8080 failed after connecting (workerd: ${opaque})`,
    );
  });

  it("tells a refused connection from one closed before an answer", () => {
    const url = new URL("http://crm.example.com/");
    expect(describeNetworkError(lost, url, "failed")).toBe("connection refused by crm.example.com:80");
    expect(describeNetworkError(lost, url, "open")).toBe("connection to crm.example.com:80 closed before an answer");
    expect(describeNetworkError(lost, url, "unknown")).toBe("connection to crm.example.com:80 refused or closed before an answer");
  });

  it("says both possibilities when the probe could not tell", () => {
    expect(describeNetworkError(opaque, new URL("https://crm.example.com/"), "unknown")).toBe(
      `DNS lookup or TLS handshake failed for crm.example.com:443 (workerd: ${opaque})`,
    );
  });

  it("passes any other message through", () => {
    expect(describeNetworkError("Too many subrequests.", new URL("https://crm.example.com/"), "unknown")).toBe("network error: Too many subrequests.");
  });

  it("never puts the path or query (which may hold a token) in the text", () => {
    const text = describeNetworkError(lost, new URL("https://crm.example.com/hook?token=secret"), "failed");
    expect(text).not.toContain("secret");
    expect(text).not.toContain("/hook");
  });
});

describe("cloudflareOriginError", () => {
  it("explains Cloudflare's origin statuses", () => {
    expect(cloudflareOriginError(521, null)).toBe("Cloudflare 521: the origin refused the connection");
    expect(cloudflareOriginError(522, null)).toBe("Cloudflare 522: connecting to the origin timed out");
    expect(cloudflareOriginError(525, null)).toBe("Cloudflare 525: TLS handshake with the origin failed");
    expect(cloudflareOriginError(530, "<title>Origin DNS error | crm.example.com | Cloudflare</title>")).toBe(
      "Cloudflare 530/1016: DNS lookup failed for the origin",
    );
    expect(cloudflareOriginError(530, "error code: 1033")).toBe("Cloudflare 530: the origin could not be reached");
  });

  it("leaves every other status alone", () => {
    for (const status of [200, 204, 400, 410, 429, 500, 502, 503, 504, 527]) expect(cloudflareOriginError(status, "x")).toBeNull();
  });
});
