using OneDiff.Modeling.Runtime;
using Xunit;

namespace OneDiff.Modeling.Tests;

public class ElfVersionPatcherTests
{
    static string? ShippedBridge()
    {
        var v = typeof(TorchSharp.torch).Assembly.GetName().Version!;
        string home = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(home, "torchsharp", $"{v.Major}.{v.Minor}.{v.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }

    [Fact]
    public void MarksExactlyTheRequirementNamedAndNothingElse()
    {
        var path = ShippedBridge();
        if (path is null) Assert.Skip("TorchSharp's linux-x64 native bridge is not in the NuGet cache (not a Linux restore)");
        byte[] original = File.ReadAllBytes(path);
        byte[] patched = (byte[])original.Clone();
        Assert.Equal(1, ElfVersionPatcher.MarkVersionWeak(patched, "GLIBCXX_3.4.32"));
        int differing = original.Zip(patched).Count(p => p.First != p.Second);
        Assert.Equal(1, differing); // one flag byte of one Vernaux entry
        Assert.Equal(0, ElfVersionPatcher.MarkVersionWeak(patched, "GLIBCXX_3.4.32"));
        Assert.Equal(0, ElfVersionPatcher.MarkVersionWeak((byte[])original.Clone(), "GLIBCXX_9.9.9"));
    }

    [Fact]
    public void RejectsWhatIsNotElf64()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.MarkVersionWeak(new byte[128], "GLIBCXX_3.4.32"));
    }
}
