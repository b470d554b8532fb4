// nativecnn serve: the page's behaviour. Reads the model (/api/model), predicts each chosen or dropped
// image with its own POST /api/predict (the server batches them), shows the top classes, and sends a
// correction (the image and its right class, or label set) to /api/corrections. No libraries.
"use strict";
let model = null;

function fmt(p) { return (100 * p).toFixed(1) + "%"; }

async function loadModel() {
  const info = document.getElementById("model-info");
  try {
    const r = await fetch("api/model");
    model = await r.json();
    info.textContent = `${model.arch} · ${model.classes.length} classes · ${model.input_size[0]}×${model.input_size[1]}` +
      (model.multi_label ? ` · multi-label (threshold ${model.threshold})` : "") + ` · model ${model.identity.sha256.slice(0, 12)}`;
  } catch (e) {
    info.textContent = "the model could not be read: " + e;
  }
}

function showError(el, message) { el.textContent = message; el.hidden = false; }

async function predict(file) {
  const view = document.getElementById("result-template").content.firstElementChild.cloneNode(true);
  view.querySelector(".name").textContent = file.name;
  view.querySelector(".thumb").src = URL.createObjectURL(file);
  view.dataset.name = file.name;
  document.getElementById("results").prepend(view);
  const error = view.querySelector("p.error");
  await modelReady;
  let answer;
  try {
    const r = await fetch("api/predict", { method: "POST", body: file, headers: { "X-File-Name": file.name } });
    answer = await r.json();
    if (!r.ok) { showError(error, answer.error || ("HTTP " + r.status)); return; }
  } catch (e) { showError(error, "the request failed: " + e); return; }
  const p = answer.predictions[0];
  view.querySelector(".pred-class").textContent = model && model.multi_label ? (p.labels.join(", ") || "(no label above the threshold)") : p.class;
  view.querySelector(".pred-prob").textContent = fmt(p.probability);
  const top = view.querySelector(".top");
  for (const t of p.top) {
    const li = document.createElement("li");
    li.textContent = `${t.class} ${fmt(t.probability)}`;
    li.dataset.class = t.class;
    top.appendChild(li);
  }
  if (model && model.corrections) offerCorrection(view, file, p);
}

function offerCorrection(view, file, p) {
  const form = view.querySelector(".correct");
  const select = view.querySelector(".correct-class");
  const boxes = view.querySelector(".correct-labels");
  if (model.multi_label) {
    select.remove();
    view.querySelector(".correct-label").textContent = "Wrong? The right labels:";
    for (const c of model.classes) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = c; box.checked = p.labels.includes(c);
      label.append(box, " " + c);
      boxes.appendChild(label);
    }
  } else {
    for (const c of model.classes) {
      const option = document.createElement("option");
      option.value = c; option.textContent = c; option.selected = c === p.class;
      select.appendChild(option);
    }
  }
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = view.querySelector(".correction-status");
    const body = new FormData();
    body.append("image", file, file.name);
    const chosen = model.multi_label ? [...boxes.querySelectorAll("input:checked")].map(b => b.value) : [select.value];
    for (const c of chosen) body.append("class", c);
    status.textContent = "sending…";
    try {
      const r = await fetch("api/corrections", { method: "POST", body });
      const answer = await r.json();
      if (!r.ok) { status.textContent = ""; showError(view.querySelector("p.error"), answer.error || ("HTTP " + r.status)); return; }
      status.textContent = (answer.stored ? "saved as " : "already saved as ") + answer.file;
      status.dataset.file = answer.file;
    } catch (e) { status.textContent = "the correction failed: " + e; }
  });
}

const modelReady = loadModel();

function handle(files) { for (const f of files) predict(f); }

const drop = document.getElementById("drop");
const input = document.getElementById("files");
input.addEventListener("change", () => { handle(input.files); input.value = ""; });
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); handle(ev.dataTransfer.files); });
