"use strict";
// The Workspace page's "every member" box ticks and unticks the members' boxes, and unticks itself
// when one of them is unticked. Without JavaScript the box still works: the server then gives the
// list to every member listed.
(function () {
  var boxes = document.querySelectorAll("input[data-select-all]");
  Array.prototype.forEach.call(boxes, function (all) {
    var form = all.form;
    var members = form.querySelectorAll("input[name='" + all.getAttribute("data-select-all") + "']");
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(members, function (box) { box.checked = all.checked; });
    });
    Array.prototype.forEach.call(members, function (box) {
      box.addEventListener("change", function () {
        all.checked = Array.prototype.every.call(members, function (other) { return other.checked; });
      });
    });
  });
}());
