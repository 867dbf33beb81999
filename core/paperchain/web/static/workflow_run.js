// The run form's document picker. A document ticked in the search results moves to the chosen
// list, so a new search (which replaces the results) keeps it; Enter in the search box searches
// instead of starting a run.
const results = document.getElementById("picker-results");
const kept = document.getElementById("picker-kept");
const search = document.getElementById("picker-search");

if (results && kept) {
  results.addEventListener("change", (event) => {
    const box = event.target;
    if (box.name === "document" && box.checked) {
      kept.append(box.closest("li"));
      box.focus();
    }
  });
  kept.addEventListener("change", (event) => {
    if (!event.target.checked) event.target.closest("li").remove();
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target !== results) return;
    const chosen = new Set([...kept.querySelectorAll("input[name=document]")].map((box) => box.value));
    for (const box of results.querySelectorAll("input[name=document]")) {
      if (chosen.has(box.value)) box.closest("li").remove();
    }
  });
}
if (search) {
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault();
  });
}
