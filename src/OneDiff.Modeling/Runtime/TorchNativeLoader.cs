using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace OneDiff.Modeling.Runtime;

/// <summary>
/// Makes TorchSharp's native bridge loadable before the first TorchSharp call.
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> was linked against GCC 13 and asks for
/// GLIBCXX_3.4.32, which Debian 12's libstdc++ lacks, although the symbol is never called. Where
/// the regular load fails for that reason, a copy with that requirement marked weak is written to
/// a cache folder and loaded; TorchSharp's own lookup of <c>libLibTorchSharp.so</c> then finds the
/// already loaded library by its soname. Nothing happens on Windows, macOS, or a Linux whose
/// libstdc++ is new enough (Ubuntu 24.04), or when the library is already in the process
/// (LD_PRELOAD on the GPU machine).
/// </summary>
public static class TorchNativeLoader
{
    public const string MissingVersion = "GLIBCXX_3.4.32";
    const string BridgeName = "libLibTorchSharp.so";
    static readonly object Gate = new();
    static bool _done;

    /// <summary>What the loader did, for diagnostics and error messages.</summary>
    public static string Trace { get; private set; } = "";

    /// <summary>The patched copy that was loaded, or null when none was needed.</summary>
    public static string? PatchedLibraryPath { get; private set; }

    /// <summary>What an application lacks when TorchSharp cannot load libtorch: the native package
    /// of its platform, which a library (this one included) leaves to the application. (On a
    /// developer's machine the NuGet cache may have hidden the lack: found there, not deployed.)</summary>
    public static string MissingBackend(Exception e)
    {
        string rid = OperatingSystem.IsWindows() ? "win-x64" : OperatingSystem.IsMacOS() ? "osx-arm64" : "linux-x64";
        string first = (e is TypeInitializationException { InnerException: { } inner } ? inner : e).Message.Split('\n', 2)[0].Trim();
        return $"TorchSharp could not load libtorch, the native library OneDiff runs on ({first}). Add the native package of your platform " +
            $"to the application: libtorch-cpu-{rid} 2.10.0 for the CPU, or for CUDA TorchSharp-cuda-linux / TorchSharp-cuda-windows 0.107.0 " +
            $"(dotnet add package libtorch-cpu-{rid} --version 2.10.0; docs/usage.md). What the loader did: {Trace.Replace(Environment.NewLine, "; ")}";
    }

#pragma warning disable CA2255 // deliberate: the fix must run before any TorchSharp call a library user makes
    [ModuleInitializer]
    internal static void OnModuleLoad()
    {
        // Runs when any OneDiff.Modeling type is first touched; a failure here must not break
        // type loading, so it is kept and reported again by EnsureLoaded.
        try { EnsureLoaded(); } catch { }
    }
#pragma warning restore CA2255

    /// <summary>Ensures the native bridge is loadable; idempotent and thread-safe.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_done) return;
            _done = true;
            if (!OperatingSystem.IsLinux()) { Trace = "not Linux: nothing to do"; return; }
            var trace = new List<string>();
            try { Load(trace); }
            finally { Trace = string.Join(Environment.NewLine, trace); }
        }
    }

    static void Load(List<string> trace)
    {
        if (NativeLibrary.TryLoad(BridgeName, out _))
        {
            trace.Add($"{BridgeName} already loadable by soname (preloaded or on the library path)");
            return;
        }
        string? bridge = FindFile(BridgeName, BridgeDirectories());
        if (bridge is null)
        {
            trace.Add($"{BridgeName} not found next to the application or in the NuGet cache; TorchSharp's own lookup decides");
            return;
        }
        string? libtorchDir = FindFile("libtorch.so", LibTorchDirectories(Path.GetDirectoryName(bridge)!)) is { } lt ? Path.GetDirectoryName(lt) : null;
        trace.Add($"bridge: {bridge}; libtorch: {libtorchDir ?? "(not found)"}");
        PreloadLibTorch(libtorchDir, trace);

        try
        {
            NativeLibrary.Load(bridge);
            trace.Add("bridge loaded as shipped");
            return;
        }
        catch (DllNotFoundException e) when (e.Message.Contains(MissingVersion, StringComparison.Ordinal))
        {
            trace.Add($"regular load failed: {e.Message}");
        }
        catch (DllNotFoundException e)
        {
            trace.Add($"regular load failed for another reason, left to TorchSharp: {e.Message}");
            return;
        }

        string patched = WritePatchedCopy(bridge, trace);
        NativeLibrary.Load(patched);
        PatchedLibraryPath = patched;
        trace.Add($"loaded patched copy {patched}");
    }

    static void PreloadLibTorch(string? dir, List<string> trace)
    {
        if (dir is null) return;
        // The patched copy lives outside the libtorch folder, so its $ORIGIN runpath cannot find its
        // dependencies; loaded first by full path, they are then matched by soname.
        foreach (var name in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path) && !NativeLibrary.TryLoad(path, out _)) trace.Add($"could not preload {path}");
        }
    }

    static string WritePatchedCopy(string bridge, List<string> trace)
    {
        byte[] bytes = File.ReadAllBytes(bridge);
        string hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        string dir = Path.Combine(CacheRoot(), "native", hash);
        string target = Path.Combine(dir, BridgeName);
        if (File.Exists(target)) { trace.Add("patched copy found in cache"); return target; }

        int changed = ElfVersionPatcher.MarkVersionWeak(bytes, MissingVersion);
        if (changed == 0) throw new InvalidOperationException($"{bridge} failed to load for {MissingVersion} but holds no such requirement to patch.");
        Directory.CreateDirectory(dir);
        // Write then rename, so a concurrent process never loads a half-written file.
        string temp = Path.Combine(dir, $"{BridgeName}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, target, overwrite: true);
        trace.Add($"wrote patched copy ({changed} requirement(s) of {MissingVersion} marked weak)");
        return target;
    }

    /// <summary>Cache folder for generated native files: ONEDIFF_CACHE, else XDG_CACHE_HOME/onediff,
    /// else ~/.cache/onediff, else the temp folder.</summary>
    public static string CacheRoot()
    {
        if (Environment.GetEnvironmentVariable("ONEDIFF_CACHE") is { Length: > 0 } explicitDir) return explicitDir;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "onediff");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (home.Length > 0) return Path.Combine(home, ".cache", "onediff");
        return Path.Combine(Path.GetTempPath(), "onediff");
    }

    static IEnumerable<string> AppDirectories()
    {
        var roots = new[] { AppContext.BaseDirectory, Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? "" }
            .Where(r => r.Length > 0).Distinct();
        foreach (var root in roots)
        {
            yield return Path.Combine(root, "runtimes", "linux-x64", "native");
            yield return root;
            yield return Path.Combine(root, "cpu");
        }
    }

    static IEnumerable<string> BridgeDirectories()
    {
        foreach (var d in AppDirectories()) yield return d;
        var v = typeof(torch).Assembly.GetName().Version;
        if (v is not null)
            yield return Path.Combine(NuGetRoot(), "torchsharp", $"{v.Major}.{v.Minor}.{v.Build}", "runtimes", "linux-x64", "native");
    }

    static IEnumerable<string> LibTorchDirectories(string bridgeDir)
    {
        yield return bridgeDir;
        if (Environment.GetEnvironmentVariable("TORCH_LIB") is { Length: > 0 } torchLib) yield return torchLib;
        foreach (var d in AppDirectories()) yield return d;
        var cache = Path.Combine(NuGetRoot(), "libtorch-cpu-linux-x64");
        if (Directory.Exists(cache))
            foreach (var v in Directory.GetDirectories(cache).OrderDescending())
                yield return Path.Combine(v, "runtimes", "linux-x64", "native");
    }

    static string NuGetRoot() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    static string? FindFile(string name, IEnumerable<string> directories) =>
        directories.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
