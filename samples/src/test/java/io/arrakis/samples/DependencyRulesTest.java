package io.arrakis.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.arrakis.samples.loadgen.LoadGenerator;
import io.arrakis.samples.memcached.MemcachedServer;
import io.arrakis.samples.redis.RedisServer;
import java.io.IOException;
import java.lang.classfile.Attributes;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.constantpool.ClassEntry;
import java.lang.classfile.constantpool.PoolEntry;
import java.lang.classfile.constantpool.Utf8Entry;
import java.lang.constant.ClassDesc;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The sample servers must run on the JDK alone, as the unmodified programs they stand for: this
 * test fails the build when a compiled server class refers, anywhere in its constant pool (class
 * references, field and method descriptors, generic signatures, annotations), to a type outside
 * {@code java.*}, {@code javax.*} and its own package. The load generator may also use
 * HdrHistogram, and nothing of the servers.
 */
class DependencyRulesTest {
    /** A type named inside a descriptor or signature: L + internal name + ; (or <). */
    private static final Pattern DESCRIBED_TYPE = Pattern.compile("L([A-Za-z_$][\\w$]*(?:/[\\w$]+)+)[;<]");

    /** Every type a class file refers to that is not allowed by {@code allowedPrefixes}. */
    static Set<String> forbiddenReferences(byte[] classFile, List<String> allowedPrefixes) {
        ClassModel model = ClassFile.of().parse(classFile);
        Set<String> referenced = new TreeSet<>();
        for (PoolEntry entry : model.constantPool()) {
            if (entry instanceof ClassEntry c) {
                String name = c.asInternalName();
                if (name.startsWith("[")) {
                    collectDescribed(name, referenced);
                } else {
                    referenced.add(name);
                }
            } else if (entry instanceof Utf8Entry utf8) {
                collectDescribed(utf8.stringValue(), referenced);
            }
        }
        Set<String> forbidden = new TreeSet<>();
        for (String name : referenced) {
            if (allowedPrefixes.stream().noneMatch(name::startsWith)) {
                forbidden.add(name);
            }
        }
        return forbidden;
    }

    private static void collectDescribed(String text, Set<String> into) {
        Matcher m = DESCRIBED_TYPE.matcher(text);
        while (m.find()) {
            into.add(m.group(1));
        }
    }

    private static Path classesRoot() throws URISyntaxException {
        return Path.of(RedisServer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    /** Checks every class of a package tree; returns how many were checked. */
    private static int checkPackage(String packagePath, List<String> allowed) throws Exception {
        Path dir = classesRoot().resolve(packagePath);
        List<Path> classes;
        try (Stream<Path> files = Files.walk(dir)) {
            classes = files.filter(p -> p.toString().endsWith(".class")).toList();
        }
        StringBuilder problems = new StringBuilder();
        for (Path file : classes) {
            Set<String> forbidden = forbiddenReferences(Files.readAllBytes(file), allowed);
            if (!forbidden.isEmpty()) {
                problems.append(dir.relativize(file)).append(" refers to ").append(forbidden).append('\n');
            }
        }
        assertTrue(problems.isEmpty(), "classes of " + packagePath + " must use only " + allowed
                + ", and do not:\n" + problems);
        return classes.size();
    }

    private static List<String> jdkAnd(String... own) {
        return Stream.concat(Stream.of("java/", "javax/"), Stream.of(own)).toList();
    }

    @Test
    void theRedisServerUsesOnlyTheJdk() throws Exception {
        int checked = checkPackage("io/arrakis/samples/redis", jdkAnd("io/arrakis/samples/redis/"));
        assertTrue(checked >= 15, "found only " + checked + " classes: is the class directory right?");
    }

    @Test
    void theMemcachedServerUsesOnlyTheJdk() throws Exception {
        int checked = checkPackage("io/arrakis/samples/memcached", jdkAnd("io/arrakis/samples/memcached/"));
        assertTrue(checked >= 8, "found only " + checked + " classes: is the class directory right?");
        assertTrue(Files.exists(classesRoot().resolve("io/arrakis/samples/memcached/MemcachedServer.class")));
    }

    @Test
    void theLoadGeneratorUsesOnlyTheJdkAndHdrHistogram() throws Exception {
        int checked = checkPackage("io/arrakis/samples/loadgen",
                jdkAnd("io/arrakis/samples/loadgen/", "org/HdrHistogram/"));
        assertTrue(checked >= 5, "found only " + checked + " classes");
        assertEquals("io.arrakis.samples.loadgen", LoadGenerator.class.getPackageName());
        assertEquals("io.arrakis.samples.memcached", MemcachedServer.class.getPackageName());
    }

    // ---- the check itself catches what it must ---------------------------------------------------

    private static final ClassDesc HISTOGRAM = ClassDesc.of("org.HdrHistogram.Histogram");
    private static final ClassDesc LOADGEN = ClassDesc.of("io.arrakis.samples.loadgen.LoadGenerator");
    private static final ClassDesc OTHER_SERVER = ClassDesc.of("io.arrakis.samples.memcached.Cache");
    private static final ClassDesc PLATFORM = ClassDesc.of("io.arrakis.memory.Doorbell");
    private static final List<String> REDIS_RULE = jdkAnd("io/arrakis/samples/redis/");

    private static byte[] redisClass(java.util.function.Consumer<java.lang.classfile.ClassBuilder> body) {
        return ClassFile.of().build(ClassDesc.of("io.arrakis.samples.redis.Probe"), body);
    }

    @Test
    void catchesALibraryTypeInAFieldDescriptor() {
        byte[] bytes = redisClass(c -> c.withField("histogram", HISTOGRAM, ClassFile.ACC_PRIVATE));
        assertEquals(Set.of("org/HdrHistogram/Histogram"), forbiddenReferences(bytes, REDIS_RULE));
    }

    @Test
    void catchesACallIntoAnotherPackageOfOurs() {
        byte[] bytes = redisClass(c -> c.withMethodBody("run", MethodTypeDesc.of(ConstantDescs.CD_void),
                ClassFile.ACC_STATIC, code -> code
                        .aconst_null()
                        .invokestatic(LOADGEN, "main", MethodTypeDesc.of(ConstantDescs.CD_void,
                                ConstantDescs.CD_String.arrayType()))
                        .ldc(OTHER_SERVER)
                        .pop()
                        .return_()));
        assertEquals(Set.of("io/arrakis/samples/loadgen/LoadGenerator", "io/arrakis/samples/memcached/Cache"),
                forbiddenReferences(bytes, REDIS_RULE));
    }

    @Test
    void catchesTypesOnlyInSignaturesAndArrays() {
        byte[] bytes = redisClass(c -> c
                .withMethod("take", MethodTypeDesc.of(ConstantDescs.CD_void, PLATFORM.arrayType()),
                        ClassFile.ACC_ABSTRACT | ClassFile.ACC_PUBLIC, m -> { })
                .withField("list", ConstantDescs.CD_List, f -> f.with(
                        java.lang.classfile.attribute.SignatureAttribute.of(
                                java.lang.classfile.Signature.parseFrom("Ljava/util/List<Lorg/HdrHistogram/Histogram;>;")))));
        assertEquals(Set.of("io/arrakis/memory/Doorbell", "org/HdrHistogram/Histogram"),
                forbiddenReferences(bytes, REDIS_RULE));
    }

    @Test
    void allowsTheJdkAndTheOwnPackage() throws IOException {
        byte[] bytes = redisClass(c -> c
                .withField("map", ConstantDescs.CD_Map, ClassFile.ACC_PRIVATE)
                .withField("self", ClassDesc.of("io.arrakis.samples.redis.Keyspace"), ClassFile.ACC_PRIVATE)
                .withField("file", ClassDesc.of("javax.net.ssl.SSLContext"), ClassFile.ACC_PRIVATE));
        assertEquals(Set.of(), forbiddenReferences(bytes, REDIS_RULE));
        assertTrue(ClassFile.of().parse(bytes).findAttribute(Attributes.signature()).isEmpty());
    }
}
