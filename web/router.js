// The views, one per tab, chosen by the URL's hash (`#/jobs`, `#/jobs?state=failed`): each
// section names the views it belongs to in `data-views`. The view shown is refreshed when it
// is entered and every two seconds while the event stream is live.

const VIEWS = ["live", "jobs", "modules", "history", "lanes", "hosts", "queues", "limits", "schedules", "workflows"];
const REFRESH_MS = 2000;
const views = new Map(); // name -> { enter(params), refresh() }
let current = null;

/** Registers what a view does when entered (with the hash's query) and when refreshed. */
export function defineView(name, { enter = () => {}, refresh = () => {} }) {
  views.set(name, { enter, refresh });
}

/** The view shown. */
export function currentView() {
  return current;
}

/** Refreshes the view shown. */
export function refreshView() {
  views.get(current)?.refresh();
}

/** Shows the view the hash names, now and whenever the hash changes. */
export function setupRouter(isLive) {
  window.addEventListener("hashchange", route);
  route();
  setInterval(() => {
    if (isLive() && !document.hidden) refreshView();
  }, REFRESH_MS);
}

function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  current = VIEWS.includes(path) ? path : "live";
  document.body.dataset.view = current;
  for (const section of document.querySelectorAll("[data-views]")) {
    section.hidden = !section.dataset.views.split(" ").includes(current);
  }
  for (const tab of document.querySelectorAll("[data-tab]")) {
    if (tab.dataset.tab === current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  views.get(current)?.enter(new URLSearchParams(query));
  refreshView();
}
