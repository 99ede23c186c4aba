using System.Text.Json;
using OneDiff.Data.Images;
using OneDiff.Tests.Common;
using SkiaSharp;
using Xunit;

namespace OneDiff.Data.Tests;

public class ImageTests(ITestOutputHelper output)
{
    [Fact]
    public void ClipPreprocessingOfTheTwoPhotosMatchesTransformers()
    {
        string dir = TestPaths.RequireShared("fixtures", "hf-reference", "clip_preprocess");
        var expected = ReadF32(Path.Combine(dir, "io.safetensors"), "pixel_values");
        var processor = new ClipImageProcessor(336);
        int per = 3 * 336 * 336;
        double sum = 0, max = 0;
        string[] photos = ["sample-left.jpg", "sample-right.jpg"];
        for (int k = 0; k < photos.Length; k++)
        {
            var got = processor.Process(ImageDecoder.Decode(Path.Combine(dir, photos[k])));
            for (int i = 0; i < per; i++)
            {
                double d = Math.Abs(got[i] - expected[k * per + i]);
                sum += d;
                max = Math.Max(max, d);
            }
        }
        double mean = sum / (2.0 * per);
        output.WriteLine($"CLIP preprocessing vs transformers: mean abs error {mean:F5}, max {max:F5}");
        Assert.True(mean < 0.02, $"mean absolute error {mean} (max {max})");
    }

    /// <summary>A minimal safetensors reader for one F32 tensor (the data library has no TorchSharp).</summary>
    static float[] ReadF32(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var offsets = doc.RootElement.GetProperty(name).GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var result = new float[(offsets[1] - offsets[0]) / 4];
        Buffer.BlockCopy(bytes, (int)(8 + n + offsets[0]), result, 0, result.Length * 4);
        return result;
    }

    static string Encode(SKBitmap bitmap, string path, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void GrayscaleAlphaAndSixteenBitImagesDecodeToTheRightColours()
    {
        string dir = TestPaths.NewTempDir("img");
        using (var gray = new SKBitmap(new SKImageInfo(4, 4, SKColorType.Gray8)))
        {
            gray.Erase(new SKColor(200, 200, 200));
            var img = ImageDecoder.Decode(Encode(gray, Path.Combine(dir, "gray.png")));
            Assert.Equal((200, 200, 200), ((int, int, int))(img[1, 1].R, img[1, 1].G, img[1, 1].B));
        }
        using (var alpha = new SKBitmap(new SKImageInfo(4, 4, SKColorType.Rgba8888, SKAlphaType.Unpremul)))
        {
            alpha.Erase(new SKColor(255, 0, 0, 255));
            alpha.SetPixel(0, 0, new SKColor(0, 0, 255, 128));
            var img = ImageDecoder.Decode(Encode(alpha, Path.Combine(dir, "alpha.png")));
            Assert.Equal((byte)255, img[2, 2].R);
            // Alpha is dropped and the stored colour kept, as PIL's convert("RGB") does.
            Assert.True(img[0, 0].B >= 250 && img[0, 0].R <= 5 && img[0, 0].G <= 5, $"half-transparent blue decoded as {img[0, 0]}");
        }
        using (var wide = new SKBitmap(new SKImageInfo(4, 4, SKColorType.RgbaF16, SKAlphaType.Premul)))
        {
            wide.Erase(new SKColor(10, 120, 240));
            string path = Encode(wide, Path.Combine(dir, "sixteen.png"));
            using var codec = SKCodec.Create(path);
            var img = ImageDecoder.Decode(path);
            Assert.InRange(img[1, 1].R, 5, 15);
            Assert.InRange(img[1, 1].G, 115, 125);
            Assert.InRange(img[1, 1].B, 235, 245);
        }
    }

    [Fact]
    public void ExifOrientationIsApplied()
    {
        string dir = TestPaths.NewTempDir("exif");
        // 4 wide x 2 high: left half red, right half blue.
        using var bmp = new SKBitmap(new SKImageInfo(4, 2, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) bmp.SetPixel(x, y, x < 2 ? SKColors.Red : SKColors.Blue);
        string plain = Encode(bmp, Path.Combine(dir, "plain.jpg"), SKEncodedImageFormat.Jpeg);
        byte[] jpeg = File.ReadAllBytes(plain);
        // APP1 Exif with Orientation = 6 (rotate 90 degrees clockwise to display).
        byte[] tiff = [0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        byte[] payload = [.. "Exif\0\0"u8.ToArray(), .. tiff];
        int len = payload.Length + 2;
        byte[] app1 = [0xFF, 0xE1, (byte)(len >> 8), (byte)len, .. payload];
        byte[] rotated = [.. jpeg[..2], .. app1, .. jpeg[2..]];
        string path = Path.Combine(dir, "rotated.jpg");
        File.WriteAllBytes(path, rotated);
        var img = ImageDecoder.Decode(path);
        Assert.Equal(2, img.Width);
        Assert.Equal(4, img.Height);
        // Rotated clockwise: the left (red) half is now on top.
        Assert.True(img[0, 0].R > 150 && img[0, 0].B < 100, $"top pixel {img[0, 0]}");
        Assert.True(img[0, 3].B > 150 && img[0, 3].R < 100, $"bottom pixel {img[0, 3]}");
    }

    [Fact]
    public void BadImagesFailWithTheFileName()
    {
        string dir = TestPaths.NewTempDir("bad");
        string missing = Path.Combine(dir, "missing.png");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => ImageDecoder.Decode(missing)).Message);
        string empty = Path.Combine(dir, "empty.png");
        File.WriteAllBytes(empty, []);
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(empty)).Message);
        string garbage = Path.Combine(dir, "garbage.png");
        File.WriteAllBytes(garbage, "not an image at all"u8.ToArray());
        Assert.Contains(garbage, Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(garbage)).Message);
        using var bmp = new SKBitmap(new SKImageInfo(64, 64));
        bmp.Erase(SKColors.Green);
        string good = Encode(bmp, Path.Combine(dir, "good.png"));
        string truncated = Path.Combine(dir, "truncated.png");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.Contains(truncated, Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(truncated)).Message);
        string tiff = Path.Combine(dir, "photo.tiff");
        File.WriteAllBytes(tiff, bytes);
        Assert.Contains("unsupported", Assert.Throws<InvalidDataException>(() => ImageDecoder.Decode(tiff)).Message);
    }

    [Fact]
    public void PadToSquareKeepsTheWholeImage()
    {
        var wide = new RgbImage(8, 4, Enumerable.Repeat((byte)250, 8 * 4 * 3).ToArray());
        var padded = new ClipImageProcessor(8, padToSquare: true).Process(wide);
        var cropped = new ClipImageProcessor(8).Process(wide);
        // The padded top row is the mean colour (normalises to about 0); the cropped one is the image.
        Assert.InRange(padded[0], -0.05f, 0.05f);
        Assert.True(cropped[0] > 1.5f);
    }

    static RgbImage Noise(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[width * height * 3];
        rng.NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    [Theory]
    [InlineData(40, 25, false)]
    [InlineData(25, 40, true)]
    [InlineData(16, 16, false)]
    public void TheResizedAndCroppedSquareGivesTheSameFloatsAsTheOriginal(int width, int height, bool pad)
    {
        var processor = new ClipImageProcessor(16, pad);
        var image = Noise(width, height, width * 7 + height);
        var square = processor.ResizeAndCrop(image);
        Assert.Equal((16, 16), (square.Width, square.Height));
        Assert.Equal(processor.Process(image), processor.Process(square));
    }

    [Fact]
    public void PixelsPutAsideReadBackFromDiskAndTheFileGoesWithTheSpill()
    {
        var processor = new ClipImageProcessor(16);
        string folder = TestPaths.NewTempDir("spill");
        var images = Enumerable.Range(0, 5).Select(i => Noise(30 + i, 20, i)).ToList();
        string path;
        using (var spill = new ImageSpill(processor, folder))
        {
            path = spill.Path;
            Assert.False(File.Exists(path)); // nothing written, nothing created
            var inputs = images.Select((im, i) => spill.Add(im, $"row {i}")).ToList();
            Assert.True(File.Exists(path));
            Assert.Equal(5 * 16 * 16 * 3, spill.Length);
            // Read back in any order, from several threads.
            Parallel.For(0, 20, k =>
            {
                int i = 4 - k % 5;
                Assert.Equal(processor.Process(images[i]), processor.Process(inputs[i].Decode()));
            });

            // Encoded images are kept as they are and decoded when read; a bad one fails then, by name.
            string png = Path.Combine(folder, "a.png");
            using (var bitmap = new SKBitmap(7, 5)) { bitmap.Erase(new SKColor(10, 200, 30)); Encode(bitmap, png); }
            var encoded = spill.AddEncoded(File.ReadAllBytes(png), "row 9 column 'B'");
            Assert.Equal(ImageDecoder.Decode(png).Pixels, encoded.Decode().Pixels);
            var empty = spill.AddEncoded([], "row 10 column 'B'");
            Assert.Contains("row 10 column 'B'", Assert.Throws<InvalidDataException>(() => empty.Decode()).Message);
        }
        Assert.False(File.Exists(path));
    }
}
