// Small behaviours every console page shares; pages work without them.
(function () {
  // "Go back" links return to the previous page when there is one, else follow their href.
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('a[data-back]');
    if (a && window.history.length > 1) {
      ev.preventDefault();
      window.history.back();
    }
  });
})();
