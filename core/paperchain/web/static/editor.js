// The workflow editor: line numbers beside the textarea, kept in step as it scrolls and changes;
// the lines with problems marked in that gutter; a problem's button puts the cursor at its line
// and column; a component's Insert button appends its snippet and has it checked at once.
const text = document.getElementById("toml-text");
const gutter = document.getElementById("toml-gutter");

function problemLines() {
  return new Set([...document.querySelectorAll("#problems li[data-line]")].map((li) => Number(li.dataset.line)));
}

let drawn = "";
function draw() {
  const count = text.value.split("\n").length;
  const marked = problemLines();
  const key = `${count}:${[...marked].join(",")}`;
  if (key !== drawn) {
    drawn = key;
    const numbers = [];
    for (let line = 1; line <= count + 2; line += 1) {  // two spare lines: room for the scrollbar
      const number = document.createElement("span");
      number.textContent = line <= count ? String(line) : "";
      if (marked.has(line)) number.className = "problem";
      numbers.push(number);
    }
    gutter.replaceChildren(...numbers);
  }
  gutter.scrollTop = text.scrollTop;
}

function offsetOf(line, column) {
  const lines = text.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i += 1) offset += lines[i].length + 1;
  const length = (lines[line - 1] || "").length;
  return offset + Math.min(Math.max(column - 1, 0), length);
}

function goTo(line, column) {
  const offset = offsetOf(line, column);
  text.focus();
  text.setSelectionRange(offset, offset);
  const height = parseFloat(getComputedStyle(text).lineHeight) || 20;
  text.scrollTop = Math.max(0, (line - 3) * height);
  draw();
}

if (text && gutter) {
  text.addEventListener("input", draw);
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "problems") draw();
  });
  document.addEventListener("click", (event) => {
    const goto = event.target.closest("button.goto");
    if (goto) goTo(Number(goto.dataset.line), Number(goto.dataset.column));
    const insert = event.target.closest("button.insert");
    if (insert) {
      const before = text.value.endsWith("\n") ? text.value : `${text.value}\n`;
      text.value = before + insert.dataset.snippet.replace(/^\n/, before.endsWith("\n\n") ? "" : "\n");
      const end = text.value.length;
      text.focus();
      text.setSelectionRange(end, end);
      text.scrollTop = text.scrollHeight;
      draw();
      text.dispatchEvent(new Event("pc-edited"));
    }
  });
  draw();
}
