// Shared by the client tests: start a server binary, find the test service's descriptors.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through meson test)`);
  return value;
}

// Starts `binary args...`, resolves with { port, process } once it prints "listening on host:port".
export function startServer(binary, args = [], env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "inherit"], env });
    const timer = setTimeout(() => reject(new Error(`${binary} did not start`)), 10000);
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`${binary} exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /listening on ([\d.]+):(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[2]), process: child });
      }
    });
  });
}

export function stopServer(server) {
  return new Promise((resolve) => {
    if (!server || server.process.exitCode !== null) return resolve(server?.process.exitCode ?? null);
    server.process.removeAllListeners("exit");
    server.process.on("exit", (code) => resolve(code));
    server.process.kill("SIGTERM");
  });
}

export function testServiceRegistry() {
  const bytes = readFileSync(requireEnv("EDGEPIPE_TEST_DESCRIPTORS"));
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
}
