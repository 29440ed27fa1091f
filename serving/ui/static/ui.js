// The lead page's outcome buttons: POST /outcomes as the API takes it, then say what happened.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector(".buttons[data-lead]");
  const status = document.getElementById("outcome-status");
  if (!box || !status) return;
  box.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-outcome]");
    if (!button) return;
    const outcome = button.dataset.outcome;
    const item = { outcome: outcome, closed_at: new Date().toISOString() };
    item[box.dataset.key] = box.dataset.lead;
    box.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const answer = await fetch("/outcomes", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ outcomes: [item] }),
      });
      const body = await answer.json().catch(() => ({}));
      const name = outcome[0].toUpperCase() + outcome.slice(1);
      status.textContent = answer.ok ? status.dataset["done" + name]
                                     : status.dataset.failed + " " + (body.error || answer.status);
      status.className = answer.ok ? "ok" : "problem";
      const current = document.getElementById("current-outcome");
      if (answer.ok && current) {
        current.textContent = status.dataset["now" + name];
        current.className = "outcome " + outcome;
      }
    } catch (error) {
      status.textContent = status.dataset.unreachable;  // the network failed: nothing was recorded
      status.className = "problem";
    } finally {
      box.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  });
});
