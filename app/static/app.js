"use strict";
// Tell the server the browser's time zone (cookie "tz") so times show in local time until the
// user picks one in their settings.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (ignored) { /* No Intl: times stay in UTC. */ }
}());
