// Maps devices to backends. The CPU backend is built in; a GPU backend registers itself here so the
// core library does not depend on it at compile time.
namespace NativeCnn.Backends;

internal static class DeviceRegistry
{
    private static readonly Dictionary<Device, IBackend> Backends = new();

    public static void Register(IBackend backend)
    {
        lock (Backends) Backends[backend.Device] = backend;
    }

    internal static IBackend Resolve(Device device)
    {
        lock (Backends)
        {
            if (Backends.TryGetValue(device, out var b)) return b;
        }
        throw new NativeCnnException($"device {device} is not available: no backend is registered for it (available: cpu{string.Concat(Backends.Keys.Select(k => ", " + k))})");
    }
}
