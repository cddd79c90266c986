// The notebook widget's entry (anywidget, roiviz/notebook.py): mounts the same stage as the app.
//
// roiviz.notebook bundles this file after the stage (roiviz.drawing.stage_bundle.stage_module with
// default_as="mountStage"), so `mountStage` is the stage's own entry, the function Streamlit
// calls in the app. Here the widget's model stands in for Streamlit: the kernel's payload is
// the model's "data", a release is written to the model's "released" (the kernel traces it with
// roiviz and sends its numbers back in "data", and the stage shows the agreement), and the
// channel picker sets "channel". The stage lives in a shadow root with its own CSS, as in the
// app (Streamlit's isolate_styles), so its class names never meet the notebook's.

function channelPicker(model) {
  const names = model.get("channel_names") || [];
  const label = document.createElement("label");
  label.className = "roiviz-channel";
  label.append("Channel ");
  const select = document.createElement("select");
  names.forEach((name, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = `${i}: ${name}`;   // user text: never innerHTML
    select.appendChild(option);
  });
  select.value = String(model.get("channel"));
  select.addEventListener("change", () => {
    model.set("channel", Number(select.value));
    model.save_changes();
  });
  model.on("change:channel", () => { select.value = String(model.get("channel")); });
  label.appendChild(select);
  label.hidden = names.length < 2;
  return label;
}

export default {
  render({ model, el }) {
    const shadow = el.attachShadow ? el.attachShadow({ mode: "open" }) : el;
    const style = document.createElement("style");
    style.textContent = model.get("stage_css") +
      "\n.roiviz-channel { display: block; margin: 0 0 6px; font: 14px system-ui, sans-serif; }";
    shadow.appendChild(style);
    shadow.appendChild(channelPicker(model));
    const parentElement = document.createElement("div");
    // The stage's height is the widget's (a notebook cell), not the window's as in the app.
    parentElement.dataset.stageHeight = String(model.get("height"));
    shadow.appendChild(parentElement);
    const setStateValue = (name, value) => {
      if (name !== "box") return;
      model.set("released", value);
      model.save_changes();
    };
    const component = () => ({ data: model.get("data"), parentElement, setStateValue,
                               setTriggerValue: () => {} });
    let unmount = mountStage(component());
    const redraw = () => { unmount = mountStage(component()); };
    const resize = () => {
      parentElement.dataset.stageHeight = String(model.get("height"));
      const root = parentElement.querySelector(".roiviz-stage");
      if (root && root.__stage) root.__stage.layout();
    };
    model.on("change:data", redraw);
    model.on("change:height", resize);
    return () => {
      model.off("change:data", redraw);
      model.off("change:height", resize);
      if (unmount) unmount();
    };
  },
};
