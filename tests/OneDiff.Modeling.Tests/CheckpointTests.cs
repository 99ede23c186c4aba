using System.Text;
using System.Text.Json;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class CheckpointTests
{
    public static TheoryData<string> FixtureCases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TestPaths.HfFixtures).OrderBy(d => d))
            if (File.Exists(Path.Combine(dir, "model.safetensors"))) data.Add(Path.GetFileName(dir));
        return data;
    }

    /// <summary>An independent reading of the header, to check the loader against.</summary>
    static (Dictionary<string, (string DType, long[] Shape, long Begin, long End)> Entries, long DataStart) ParseIndependently(byte[] file)
    {
        long n = BitConverter.ToInt64(file, 0);
        using var doc = JsonDocument.Parse(file.AsMemory(8, (int)n));
        var entries = new Dictionary<string, (string, long[], long, long)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            entries[p.Name] = (p.Value.GetProperty("dtype").GetString()!, p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(), offsets[0], offsets[1]);
        }
        return (entries, 8 + n);
    }

    static bool Same(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    [Theory]
    [MemberData(nameof(FixtureCases))]
    public void EveryFixtureTensorLoadsWithItsNameShapeDtypeAndBytes(string fixture)
    {
        string path = Path.Combine(TestPaths.HfFixtures, fixture, "model.safetensors");
        byte[] file = File.ReadAllBytes(path);
        var (expected, dataStart) = ParseIndependently(file);
        using var checkpoint = SafetensorsCheckpoint.Open(Path.Combine(TestPaths.HfFixtures, fixture));
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), checkpoint.Names.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, e) in expected)
        {
            using var t = checkpoint.Read(name);
            Assert.Equal(e.Shape, t.shape);
            Assert.Equal(e.DType, SafetensorsDType.NameOf(t.dtype));
            Assert.True(file.AsSpan((int)(dataStart + e.Begin), (int)(e.End - e.Begin)).SequenceEqual(t.bytes), $"{fixture}/{name}: bytes differ");
        }
    }

    [Fact]
    public void Bf16WeightsConvertToFloat32ExactlyOnTheWay()
    {
        string path = Path.Combine(TestPaths.HfFixtures, "llama_bf16", "model.safetensors");
        byte[] file = File.ReadAllBytes(path);
        var (entries, dataStart) = ParseIndependently(file);
        Assert.Contains(entries.Values, e => e.DType == "BF16");
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        foreach (var (name, e) in entries.Where(kv => kv.Value.DType == "BF16"))
        {
            using var f32 = checkpoint.Read(name, ScalarType.Float32);
            Assert.Equal(ScalarType.Float32, f32.dtype);
            float[] got = f32.data<float>().ToArray();
            for (int i = 0; i < got.Length; i++)
            {
                // bf16 is the upper half of an IEEE float32.
                ushort bits = BitConverter.ToUInt16(file, (int)(dataStart + e.Begin + 2 * i));
                float want = BitConverter.Int32BitsToSingle(bits << 16);
                Assert.Equal(want, got[i]);
            }
        }
    }

    [Fact]
    public void Fp16AndFp32RoundTripThroughTheWriter()
    {
        string dir = TestPaths.NewTempDir("st");
        using var a = torch.randn(3, 5);
        using var h = torch.randn(7).to(ScalarType.Float16);
        using var b = torch.randn(2, 2).to(ScalarType.BFloat16);
        using var i = torch.arange(6, dtype: ScalarType.Int64).reshape(2, 3);
        string path = Path.Combine(dir, "x.safetensors");
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["h"] = h, ["b"] = b, ["i"] = i }, new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        foreach (var (name, t) in new[] { ("a", a), ("h", h), ("b", b), ("i", i) })
        {
            using var back = f.Read(name);
            Assert.Equal(t.dtype, back.dtype);
            Assert.True(Same(t, back), name);
        }
        using var asF32 = f.Read("h", ScalarType.Float32);
        Assert.True(asF32.allclose(h.to(ScalarType.Float32)));
    }

    [Fact]
    public void SafetensorsStoredAfterOtherBytesAreReadInPlace()
    {
        // As a saved model's weights entry: a length and a hash, then the safetensors bytes.
        string path = Path.Combine(TestPaths.NewTempDir("embedded"), "entry.bin");
        using var a = torch.randn(4, 6);
        using var b = torch.arange(10, dtype: ScalarType.Int64);
        using (var file = File.Create(path))
        {
            file.Write(new byte[40]);
            SafetensorsWriter.Write(file, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        }
        using var checkpoint = SafetensorsCheckpoint.OpenEmbedded(path, 40);
        Assert.Equal(["a", "b"], checkpoint.Names.Order());
        using var f = checkpoint.Files.Single();
        using var backA = f.Read("a");
        using var backB = f.Read("b");
        Assert.True(Same(a, backA) && Same(b, backB));
        // Read from the start instead, the 40 zero bytes are no header.
        Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
    }

    [Fact]
    public void ShardsWrittenByTheTestLoadThroughTheirIndexToTheSameTensors()
    {
        string source = Path.Combine(TestPaths.HfFixtures, "clip_vision");
        using var whole = SafetensorsCheckpoint.Open(source);
        var tensors = whole.Names.OrderBy(n => n, StringComparer.Ordinal).Select(n => new KeyValuePair<string, Tensor>(n, whole.Read(n))).ToList();
        string dir = TestPaths.NewTempDir("shards");
        string index = SafetensorsWriter.SaveSharded(dir, tensors, maxShardBytes: 200_000);
        Assert.True(Directory.GetFiles(dir, "*.safetensors").Length >= 3);

        using var sharded = SafetensorsCheckpoint.Open(dir);
        Assert.True(sharded.Files.Count >= 3);
        Assert.Equal(whole.Names.OrderBy(n => n), sharded.Names.OrderBy(n => n));
        foreach (var (name, t) in tensors)
        {
            using var back = sharded.Read(name);
            Assert.True(Same(t, back), name);
            t.Dispose();
        }
    }

    [Fact]
    public void LoadIntoAModuleFillsItsParametersAndReportsWhatIsMissing()
    {
        using var source = nn.Linear(4, 3);
        string path = Path.Combine(TestPaths.NewTempDir("load"), "m.safetensors");
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["weight"] = source.weight!, ["bias"] = source.bias!, ["extra"] = torch.ones(1) });
        using var target = nn.Linear(4, 3);
        using var checkpoint = SafetensorsCheckpoint.Open(path);
        var report = checkpoint.LoadInto(target);
        Assert.Equal(2, report.Loaded.Count);
        Assert.Equal(["extra"], report.UnusedInCheckpoint);
        Assert.True(Same(source.weight!, target.weight!));

        using var bigger = nn.Linear(5, 3);
        var e = Assert.Throws<InvalidDataException>(() => checkpoint.LoadInto(bigger));
        Assert.Contains("weight", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedFileIsAnErrorNamingTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDir("trunc"), "model.safetensors");
        byte[] file = File.ReadAllBytes(Path.Combine(TestPaths.HfFixtures, "bert", "model.safetensors"));
        File.WriteAllBytes(path, file[..(file.Length - 1000)]);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsCheckpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(path, file[..100]);
        var e2 = Assert.Throws<InvalidDataException>(() => SafetensorsCheckpoint.Open(path));
        Assert.Contains(path, e2.Message);
    }

    [Fact]
    public void HeaderThatLiesAboutSizesIsAnErrorNamingTheFileAndTensor()
    {
        string path = Path.Combine(TestPaths.NewTempDir("lie"), "model.safetensors");
        string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}";
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(new byte[24]);
        File.WriteAllBytes(path, bytes.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("24 bytes", e.Message);
    }

    [Fact]
    public void MissingShardIsAnErrorNamingTheShard()
    {
        string dir = TestPaths.NewTempDir("missing");
        var tensors = Enumerable.Range(0, 4).Select(i => new KeyValuePair<string, Tensor>($"t{i}", torch.full(100, i))).ToList();
        SafetensorsWriter.SaveSharded(dir, tensors, maxShardBytes: 400);
        string victim = Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f).Last();
        File.Delete(victim);
        var e = Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(dir));
        Assert.Contains(Path.GetFileName(victim), e.Message);
    }

    [Fact]
    public void LargeTensorsAreFilledThroughViewsOfTheirOwnMemory()
    {
        // ReadBytes fills tensors over 1 GiB in slices of narrow() views: a write through a view's
        // bytes must land in the parent at the view's offset.
        using var t = torch.zeros(4, 3, dtype: ScalarType.Int32);
        using (var view = t.narrow(0, 2, 1))
        {
            var span = view.bytes;
            Assert.Equal(12, span.Length);
            BitConverter.GetBytes(7).CopyTo(span);
        }
        Assert.Equal(7, t[2, 0].item<int>());
        Assert.Equal(1, t.count_nonzero().item<long>());
    }

    [Fact]
    public void ConfigsOfEveryFixtureReadWithTheirModelType()
    {
        foreach (var dir in Directory.GetDirectories(TestPaths.HfFixtures))
        {
            if (!File.Exists(Path.Combine(dir, "config.json"))) continue;
            var config = HfConfig.Load(dir);
            Assert.False(string.IsNullOrEmpty(config.ModelType), dir);
        }
        var llama = HfConfig.Load(Path.Combine(TestPaths.HfFixtures, "llama"));
        Assert.Equal(64, llama.GetInt("hidden_size"));
        Assert.Equal(10000.0, llama.Section("rope_parameters").GetDouble("rope_theta"));
        var e = Assert.Throws<InvalidDataException>(() => llama.GetInt("no_such_key"));
        Assert.Contains("no_such_key", e.Message);
    }
}
