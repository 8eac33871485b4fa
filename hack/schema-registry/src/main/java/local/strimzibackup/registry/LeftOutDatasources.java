package local.strimzibackup.registry;

import io.agroal.api.AgroalDataSource;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Named;

/**
 * Stands in for the MySQL and SQL Server datasources of Apicurio Registry, whose Quarkus driver
 * extensions this build leaves out (pom.xml says why). The registry injects all four of its
 * datasources and uses the one apicurio.storage.sql.kind names; here that is always h2, so these
 * application-scoped beans are never created. If one is, the error says what to change.
 */
@ApplicationScoped
public class LeftOutDatasources {

    @Produces
    @ApplicationScoped
    @Named("mysql")
    AgroalDataSource mysql() {
        throw leftOut("mysql");
    }

    @Produces
    @ApplicationScoped
    @Named("mssql")
    AgroalDataSource mssql() {
        throw leftOut("mssql");
    }

    private static IllegalStateException leftOut(String kind) {
        return new IllegalStateException("apicurio.storage.sql.kind=" + kind
                + " is not built into this registry (hack/schema-registry/pom.xml leaves its driver out): use h2");
    }
}
