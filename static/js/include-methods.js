// A class too long for one module keeps its methods by domain in a package of modules (static/js/room/,
// static/js/audio/): each module declares a class of the methods of its domain, and the entry module
// copies them onto the one class the page uses, getters included. The methods share `this` (the
// object the constructor made) as if they had been written in its class. A name declared twice is a
// mistake, not an override: it throws when the module loads.
export function includeMethods(target, ...parts) {
  for (const part of parts) {
    for (const name of Object.getOwnPropertyNames(part.prototype)) {
      if (name === "constructor") continue;
      if (Object.hasOwn(target.prototype, name)) throw new Error(`${target.name}.${name} is declared twice (${part.name})`);
      Object.defineProperty(target.prototype, name, Object.getOwnPropertyDescriptor(part.prototype, name));
    }
  }
}
