/**
 * Where the relay may send: `https://` to public hosts only, unless insecure
 * destinations are allowed for local testing. Answers the reason for a
 * refusal, or null when the URL may be used.
 */
export function refuseDestination(rawUrl: string, allowInsecure: boolean): string | null {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return "not a valid URL";
  }
  if (url.protocol !== "https:" && !(allowInsecure && url.protocol === "http:")) {
    return allowInsecure ? "only http and https URLs are allowed" : "only https URLs are allowed";
  }
  if (url.username || url.password) return "URLs with user info are not allowed";
  return null;
}
